/**
 * The client as it was before adaptive batches (a fixed batch, refilled below half of it), kept
 * as the baseline of the client benchmark. Not for use.
 */
import { IdClientError } from '@app/client';

/**
 * A client for other Node services (Node 18+: global fetch). Ids come from a local cache per
 * strategy and key, filled in batches in the background before it runs dry (as Tinyid's client
 * does), so most calls never wait on the network. Requests fail over across base URLs; each has
 * a timeout; server errors arrive as IdClientError with the server's stable code.
 *
 * Ordering: ids from the cache are handed out in the order the server issued them; a client
 * that caches gives up the cross-instance time ordering of snowflake/uuidv7 by up to the cache
 * lifetime. Ids left in the cache when the process ends are never used (gaps, never repeats).
 */
export interface FixedBatchOptions {
  /** e.g. ['http://id-a:8080', 'http://id-b:8080']; tried in turn on network errors, timeouts and 5xx */
  baseUrls: string[];
  /** API token, sent as Authorization: Bearer */
  token?: string;
  /** per request, default 2000 */
  timeoutMs?: number;
  /** ids fetched per refill, default 100 (the server's MAX_COUNT bounds it) */
  batchSize?: number;
  /** refill in the background once the cache holds less than this share of a batch, default 0.5 */
  refillBelow?: number;
}

interface Cache {
  ids: string[];
  head: number;
  filling?: Promise<void>;
  lastError?: unknown;
}

export interface FixedBatchStats {
  /** calls answered from the cache */
  hits: number;
  /** calls that had to wait for a fetch */
  waits: number;
  /** batches fetched */
  fetches: number;
  /** requests that failed over to another base URL */
  failovers: number;
}

export class FixedBatchClient {
  private readonly caches = new Map<string, Cache>();
  private readonly baseUrls: string[];
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly refillBelow: number;
  private preferred = 0;
  readonly stats: FixedBatchStats = { hits: 0, waits: 0, fetches: 0, failovers: 0 };

  constructor(private readonly options: FixedBatchOptions) {
    if (!options.baseUrls?.length) throw new Error('FixedBatchClient: baseUrls must name at least one server');
    this.baseUrls = options.baseUrls.map((u) => u.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.batchSize = options.batchSize ?? 100;
    this.refillBelow = options.refillBelow ?? 0.5;
  }

  /** one id, from the cache when it holds one */
  async next(strategy: string, key = 'default'): Promise<string> {
    const cache = this.cacheFor(strategy, key);
    if (cache.head < cache.ids.length) {
      this.stats.hits++;
      const id = cache.ids[cache.head++];
      this.maybeRefill(strategy, key, cache);
      return id;
    }
    this.stats.waits++;
    while (cache.head >= cache.ids.length) {
      await this.refill(strategy, key, cache);
    }
    const id = cache.ids[cache.head++];
    this.maybeRefill(strategy, key, cache);
    return id;
  }

  /** count ids straight from the server (no cache), all or nothing */
  async batch(strategy: string, key: string, count: number): Promise<string[]> {
    const body = await this.request(`/ids/${encodeURIComponent(strategy)}?key=${encodeURIComponent(key)}&count=${count}`);
    return (body as { ids: string[] }).ids;
  }

  private cacheFor(strategy: string, key: string): Cache {
    const name = `${strategy}\u0000${key}`;
    let cache = this.caches.get(name);
    if (cache === undefined) this.caches.set(name, (cache = { ids: [], head: 0 }));
    return cache;
  }

  private maybeRefill(strategy: string, key: string, cache: Cache): void {
    if (cache.filling === undefined && cache.ids.length - cache.head < this.batchSize * this.refillBelow) {
      this.refill(strategy, key, cache).catch(() => undefined); // a caller that needs it will see the error
    }
  }

  private refill(strategy: string, key: string, cache: Cache): Promise<void> {
    cache.filling ??= this.batch(strategy, key, this.batchSize)
      .then((ids) => {
        this.stats.fetches++;
        cache.ids = cache.ids.slice(cache.head).concat(ids);
        cache.head = 0;
      })
      .finally(() => (cache.filling = undefined));
    return cache.filling;
  }

  private async request(path: string): Promise<unknown> {
    let last: unknown;
    for (let attempt = 0; attempt < this.baseUrls.length; attempt++) {
      const index = (this.preferred + attempt) % this.baseUrls.length;
      if (attempt > 0) this.stats.failovers++;
      let res: Response;
      try {
        res = await fetch(this.baseUrls[index] + path, {
          headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        last = new IdClientError('UNAVAILABLE', `${this.baseUrls[index]}: ${(e as Error).message}`);
        continue;
      }
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      if (res.ok) {
        this.preferred = index;
        return body;
      }
      const retryAfter = res.headers.get('retry-after');
      const error = new IdClientError(body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText, res.status, retryAfter ? Number(retryAfter) : undefined);
      if (res.status < 500) throw error; // the request itself is wrong: another server would say the same
      last = error;
    }
    throw last;
  }
}
