import * as http from 'node:http';
import * as https from 'node:https';
import { IdClientError } from './id-client-error';

interface Target {
  base: string;
  agent: http.Agent;
  request: typeof http.request;
}

/**
 * GET with JSON answers over keep-alive connections, failing over across base URLs on network
 * errors, timeouts and 5xx (a 4xx is the request's own fault: another server would say the same).
 * node:http rather than fetch so that close() can end every socket and timer it made.
 */
export class HttpTransport {
  private readonly targets: Target[];
  private readonly live = new Set<{ request: http.ClientRequest; timer: NodeJS.Timeout }>();
  private preferred = 0;
  private closed = false;

  constructor(
    baseUrls: string[],
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    private readonly onFailover: () => void,
  ) {
    this.targets = baseUrls.map((url) => {
      const base = url.replace(/\/+$/, '');
      const secure = base.startsWith('https:');
      if (!secure && !base.startsWith('http:')) throw new Error(`IdClient: not an http(s) URL: ${url}`);
      const options = { keepAlive: true, maxSockets: 16 };
      return secure
        ? { base, agent: new https.Agent(options), request: https.request }
        : { base, agent: new http.Agent(options), request: http.request };
    });
  }

  /**
   * GET path; with `idempotencyKey`, POST with that Idempotency-Key header, the same key on every
   * server tried, so a failover retry answers the ids of the first attempt, not a second set.
   */
  async get(path: string, idempotencyKey?: string): Promise<unknown> {
    let last: unknown;
    for (let attempt = 0; attempt < this.targets.length; attempt++) {
      if (this.closed) throw new IdClientError('CLOSED', 'IdClient: closed');
      const index = (this.preferred + attempt) % this.targets.length;
      if (attempt > 0) this.onFailover();
      const target = this.targets[index];
      let answer: { status: number; body: string; retryAfter: string | undefined };
      try {
        answer = await this.send(target, path, idempotencyKey);
      } catch (e) {
        last = new IdClientError('UNAVAILABLE', `${target.base}: ${(e as Error).message}`);
        continue;
      }
      let body: { code?: string; message?: string } = {};
      try {
        body = JSON.parse(answer.body);
      } catch {
        if (answer.status < 300) {
          last = new IdClientError('BAD_ANSWER', `${target.base}: the answer is not JSON`, answer.status);
          continue;
        }
      }
      if (answer.status >= 200 && answer.status < 300) {
        this.preferred = index;
        return body;
      }
      const retryAfter = answer.retryAfter === undefined ? undefined : Number(answer.retryAfter);
      const error = new IdClientError(body.code ?? `HTTP_${answer.status}`, body.message ?? `HTTP ${answer.status}`, answer.status, retryAfter);
      if (answer.status < 500) throw error;
      last = error;
    }
    throw last;
  }

  /** aborts what is in flight and closes every connection */
  close(): void {
    this.closed = true;
    for (const entry of this.live) {
      clearTimeout(entry.timer);
      entry.request.destroy(new Error('closed'));
    }
    this.live.clear();
    for (const target of this.targets) target.agent.destroy();
  }

  private send(target: Target, path: string, idempotencyKey?: string): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
      if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
      const request = target.request(target.base + path, {
        agent: target.agent,
        method: idempotencyKey === undefined ? 'GET' : 'POST',
        headers,
      });
      const entry = {
        request,
        timer: setTimeout(() => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs),
      };
      this.live.add(entry);
      const done = () => {
        clearTimeout(entry.timer);
        this.live.delete(entry);
      };
      request.on('error', (e) => {
        done();
        reject(e);
      });
      request.on('response', (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('error', (e) => {
          done();
          reject(e);
        });
        response.on('end', () => {
          done();
          const retryAfter = response.headers['retry-after'];
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), retryAfter });
        });
      });
      request.end();
    });
  }
}
