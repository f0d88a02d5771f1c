/** What readiness reports for one strategy (DESIGN.md, "Readiness"). */
export interface GeneratorHealth {
  /**
   * false only for a failure local to this instance (no lease, clock behind, nothing to issue):
   * readiness then answers 503 so the orchestrator moves traffic to the peers.
   */
  ready: boolean;
  /** parts of the strategy; a trouble every instance shares is a part with status "down" */
  detail: Record<string, unknown>;
}

export interface IdGenerator {
  /** the :strategy route segment */
  readonly strategy: string;
  /** count unique ids for key; synchronous when buffered, a Promise only when it must wait */
  next(key: string, count: number): string[] | Promise<string[]>;
  /** what readiness reports for this strategy */
  health(): GeneratorHealth;
}
