/**
 * An error answer from the server (its stable code), no server reachable (UNAVAILABLE), a
 * malformed answer (BAD_ANSWER), or a call after close() (CLOSED).
 */
export class IdClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'IdClientError';
  }
}
