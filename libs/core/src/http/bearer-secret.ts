import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * One configured bearer token (ADMIN_TOKEN, METRICS_TOKEN), compared in constant time whatever
 * the length of the presented one (both sides are digested first).
 */
export class BearerSecret {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** true when `authorization` is `Bearer <the token>` */
  matches(authorization: unknown): boolean {
    const match = typeof authorization === 'string' ? /^Bearer (.+)$/.exec(authorization) : null;
    return match !== null && timingSafeEqual(digest(match[1]), this.expected);
  }
}
