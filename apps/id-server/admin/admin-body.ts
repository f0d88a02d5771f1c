import { ErrorCode, IdError } from '@app/core';

export interface FieldProblem {
  field: string;
  problem: string;
}

/**
 * Hand-written checks for admin bodies: each problem names its field; one problem on a field
 * with its own code (step, startId, key) answers with that code, anything else VALIDATION_FAILED
 * with every problem in `details`.
 */
export class BodyChecker {
  readonly problems: (FieldProblem & { code: ErrorCode })[] = [];
  readonly body: Record<string, unknown>;

  constructor(body: unknown, allowed: readonly string[]) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new IdError('VALIDATION_FAILED', 'the body must be a JSON object', {
        details: [{ field: '(body)', problem: 'not a JSON object' }],
      });
    }
    this.body = body as Record<string, unknown>;
    for (const field of Object.keys(this.body)) {
      if (!allowed.includes(field)) this.fail(field, `unknown field; allowed: ${allowed.join(', ')}`);
    }
  }

  fail(field: string, problem: string, code: ErrorCode = 'VALIDATION_FAILED'): undefined {
    this.problems.push({ field, problem, code });
    return undefined;
  }

  has(field: string): boolean {
    return this.body[field] !== undefined;
  }

  /** a whole number given as a JSON number (up to 2^53-1) or a decimal string (up to 2^63-1) */
  bigint(field: string, min: bigint, max: bigint, code: ErrorCode = 'VALIDATION_FAILED'): bigint | undefined {
    const v = this.body[field];
    if (v === undefined) return undefined;
    let n: bigint;
    if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,18})$/.test(v)) n = BigInt(v);
    else return this.fail(field, 'must be a whole number (a decimal string above 2^53)', code);
    if (n < min || n > max) return this.fail(field, `must be from ${min} to ${max}`, code);
    return n;
  }

  int(field: string, min: number, max: number, code: ErrorCode = 'VALIDATION_FAILED'): number | undefined {
    const v = this.body[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return this.fail(field, `must be a whole number from ${min} to ${max}`, code);
    }
    return v;
  }

  text(field: string, maxLength: number, nullable = true): string | null | undefined {
    const v = this.body[field];
    if (v === undefined) return undefined;
    if (v === null && nullable) return null;
    if (typeof v !== 'string' || v.length > maxLength) return this.fail(field, `must be a string of at most ${maxLength} characters`);
    return v;
  }

  bool(field: string): boolean | undefined {
    const v = this.body[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return this.fail(field, 'must be true or false');
    return v;
  }

  /** throws when anything failed */
  done(): void {
    if (this.problems.length === 0) return;
    const details = this.problems.map(({ field, problem }) => ({ field, problem }));
    const only = this.problems.length === 1 ? this.problems[0] : undefined;
    const code = only?.code ?? 'VALIDATION_FAILED';
    const message = only ? `${only.field}: ${only.problem}` : `${this.problems.length} problems in the body`;
    throw new IdError(code, message, { details });
  }
}
