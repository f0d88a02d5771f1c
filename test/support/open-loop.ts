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

/**
 * An open-loop load of GETs (each request due at a fixed time, sent then whatever the earlier
 * ones are doing: a stall shows as latency counted from the schedule, not as a lower rate),
 * bounded in count and time, over kept-alive connections as a service's callers would hold them.
 * Every request ends counted: answered, failed with its error, or failed as `timeout`.
 */
export class OpenLoop {
  private readonly result: OpenLoopResult = { sent: 0, ok: 0, failed: {}, ids: [], latenciesMs: [] };
  private readonly pending = new Set<Promise<void>>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly timer: NodeJS.Timeout;
  private readonly start = performance.now();

  constructor(private readonly options: { url: string; rate: number; maxRequests: number; maxSeconds: number; timeoutMs: number }) {
    this.timer = setInterval(() => this.sendDue(), 1);
  }

  /** stops sending and waits for every request still out (each bounded by timeoutMs) */
  async stop(): Promise<OpenLoopResult> {
    clearInterval(this.timer);
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.agent.destroy();
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
      const done = this.send(scheduled).finally(() => this.pending.delete(done));
      this.pending.add(done);
    }
  }

  private send(scheduled: number): Promise<void> {
    const fail = (kind: string) => (this.result.failed[kind] = (this.result.failed[kind] ?? 0) + 1);
    return new Promise((resolve) => {
      let settled = false;
      const settle = (kind?: string) => {
        if (settled) return;
        settled = true;
        if (kind !== undefined) fail(kind);
        resolve();
      };
      const req = get(this.options.url, { agent: this.agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('error', (e: NodeJS.ErrnoException) => settle(e.code ?? e.message));
        res.on('end', () => {
          if (res.statusCode !== 200) return settle(`status ${res.statusCode}${errorCode(body)}`);
          let ids: unknown;
          try {
            ids = (JSON.parse(body) as { ids?: unknown }).ids;
          } catch {
            return settle('unreadable 200');
          }
          if (!Array.isArray(ids) || ids.length !== 1) return settle('unreadable 200');
          this.result.ok++;
          this.result.ids.push(String(ids[0]));
          this.result.latenciesMs.push(performance.now() - scheduled);
          settle();
        });
      });
      req.setTimeout(this.options.timeoutMs, () => {
        settle('timeout');
        req.destroy();
      });
      req.on('error', (e: NodeJS.ErrnoException) => settle(e.code ?? e.message));
    });
  }
}
