import { Agent, get } from 'node:http';

export interface OpenLoopResult {
  sent: number;
  /** answered 200 with the ids asked for */
  ok: number;
  /** by kind: `status 503`, a socket error's code, `timeout` (never answered within the bound) */
  failed: Record<string, number>;
  /** every id received, in no particular order */
  ids: string[];
  /** ms from each request's scheduled send to its last byte, answered 200 only */
  latenciesMs: number[];
}

/** the error contract's code, when the answer has one: which side answered the failure */
function errorCode(body: string): string {
  try {
    const code = (JSON.parse(body) as { code?: unknown }).code;
    return typeof code === 'string' ? ` ${code}` : '';
  } catch {
    return '';
  }
}

export const failedCount = (r: OpenLoopResult): number => Object.values(r.failed).reduce((a, b) => a + b, 0);

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** A failed call, by kind: `status 503 SEGMENT_UNAVAILABLE`, a socket error's code, `timeout`. */
export class CallFailed extends Error {}

/**
 * One single-id GET over a kept-alive agent: the id, or CallFailed naming how it failed; never
 * left unanswered past timeoutMs.
 */
export function getOneId(url: string, agent: Agent, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (kind: string) => reject(new CallFailed(kind));
    const req = get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      res.on('end', () => {
        if (res.statusCode !== 200) return fail(`status ${res.statusCode}${errorCode(body)}`);
        let ids: unknown;
        try {
          ids = (JSON.parse(body) as { ids?: unknown }).ids;
        } catch {
          return fail('unreadable 200');
        }
        if (!Array.isArray(ids) || ids.length !== 1) return fail('unreadable 200');
        resolve(String(ids[0]));
      });
    });
    req.setTimeout(timeoutMs, () => {
      fail('timeout');
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
  });
}

/**
 * An open-loop load of single-id calls (each due at a fixed time, made then whatever the
 * earlier ones are doing: a stall shows as latency counted from the schedule, not as a lower
 * rate), bounded in count and time. Every call ends counted: an id, or a failure by kind (the
 * call itself must bound its wait: a request never answered is a failure, `timeout`).
 */
export class OpenLoop {
  private readonly result: OpenLoopResult = { sent: 0, ok: 0, failed: {}, ids: [], latenciesMs: [] };
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private readonly start = performance.now();

  constructor(private readonly options: { call: () => Promise<string>; rate: number; maxRequests: number; maxSeconds: number }) {
    this.timer = setInterval(() => this.sendDue(), 1);
  }

  /** stops calling and waits for every call still out */
  async stop(): Promise<OpenLoopResult> {
    clearInterval(this.timer);
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    return this.result;
  }

  private sendDue(): void {
    const { rate, maxRequests, maxSeconds } = this.options;
    const elapsed = performance.now() - this.start;
    if (elapsed > maxSeconds * 1000) return;
    const due = Math.min(maxRequests, Math.floor((elapsed * rate) / 1000) + 1);
    while (this.result.sent < due) {
      const scheduled = this.start + (this.result.sent * 1000) / rate;
      this.result.sent++;
      const done = this.options.call().then(
        (id) => {
          this.result.ok++;
          this.result.ids.push(id);
          this.result.latenciesMs.push(performance.now() - scheduled);
        },
        (e: unknown) => {
          const kind = e instanceof CallFailed ? e.message : ((e as { code?: string }).code ?? String((e as Error).message ?? e));
          this.result.failed[kind] = (this.result.failed[kind] ?? 0) + 1;
        },
      );
      const tracked = done.finally(() => this.pending.delete(tracked));
      this.pending.add(tracked);
    }
  }
}
