/** The process's exit codes (README and DESIGN, "Exit codes"): every exit path uses these. */
export const EXIT = {
  /** a clean shutdown, SIGTERM and SIGINT included */
  CLEAN: 0,
  /** a shutdown past SHUTDOWN_GRACE_MS, a failed shutdown, or a crash */
  FAILED: 1,
  /** a bad configuration or a start-up refusal (database unreachable, secret or layout mismatch, clock behind) */
  REFUSED: 2,
} as const;
