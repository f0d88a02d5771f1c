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

/** consecutive ids first..last inclusive, as decimal strings */
export type IdRange = [first: string, last: string];

export interface IdGenerator {
  /** the :strategy route segment */
  readonly strategy: string;
  /** count unique ids for key; synchronous when buffered, a Promise only when it must wait */
  next(key: string, count: number): string[] | Promise<string[]>;
  /**
   * the same ids as next, as consecutive ranges (format=ranges); only strategies whose ids are
   * consecutive within a segment have it, and they may refuse a key (INVALID_FORMAT)
   */
  nextRanges?(key: string, count: number): IdRange[] | Promise<IdRange[]>;
  /** what readiness reports for this strategy */
  health(): GeneratorHealth;
}
