import { randomUUID } from 'node:crypto';
import { IdCache, Refill } from './id-cache';
import { HttpTransport } from './http-transport';
import { IdClientError } from './id-client-error';

/**
 * A client for other Node services (Node 18+, no dependencies). Ids come from a local cache per
 * strategy and key that is kept filled ahead of demand: refills are sized from the observed
 * drain rate and round-trip time so the cache holds `safeDistanceMs` of demand (bounded by
 * `maxHeld`), several may be in flight, and a caller that finds the cache empty waits for one
 * refill at most. `tryNext()` is the synchronous fast path.
 *
 * Plain segment keys and partition ids arrive as ranges (`format=ranges`): a refill of 10,000
 * ids costs the caller's thread a few microseconds instead of parsing a list of 10,000 strings.
 *
 * Ids are never used twice: the cache lives in this process only, and close() or an exit drops
 * what it holds (gaps, never repeats). Snowflake and uuidv7 ids held longer than `maxAgeMs` are
 * dropped, so their time order across instances loosens by at most that much.
 */
export interface IdClientOptions {
  /** e.g. ['http://id-a:8080', 'http://id-b:8080']; tried in turn on network errors, timeouts and 5xx */
  baseUrls: string[];
  /** API token, sent as Authorization: Bearer */
  token?: string;
  /** per request, default 2000 */
  timeoutMs?: number;
  /** keep the ids the observed demand needs for this long (and at least a few round trips), default 2000 */
  safeDistanceMs?: number;
  /** ids per request at most: the server's MAX_COUNT, default 10000 */
  maxBatch?: number;
  /** refills in flight per strategy and key at most, default 4 */
  maxInFlight?: number;
  /** ids held per strategy and key at most, in hand and in flight together, default maxBatch * maxInFlight */
  maxHeld?: number;
  /** the first refill, and the floor of every refill, default 64 */
  minBatch?: number;
  /** snowflake and uuidv7 ids older than this are dropped, not handed out; default 1000 */
  maxAgeMs?: number;
  /** ask for ranges where the strategy allows (segment, partition), default true */
  rangeAnswers?: boolean;
}

export interface IdClientStats {
  /** calls answered from the cache */
  hits: number;
  /** calls that had to wait for a refill */
  waits: number;
  /** refills received */
  fetches: number;
  /** requests that failed over to another base URL */
  failovers: number;
  /** time-ordered ids dropped for age */
  dropped: number;
}

/** strategies whose ids carry a timestamp: cached ones go stale */
const TIME_ORDERED = new Set(['snowflake', 'uuidv7']);
/** strategies whose ids are consecutive within a segment: the server can answer ranges */
const RANGED = new Set(['segment', 'partition']);

export class IdClient {
  private readonly caches = new Map<string, Map<string, IdCache>>();
  // the last cache asked for: a caller in a loop asks for one strategy and key, and two Map
  // lookups per id were a tenth of a cached id's cost
  private lastStrategy: string | undefined;
  private lastKey: string | undefined;
  private lastCache: IdCache | undefined;
  private readonly transport: HttpTransport;
  private readonly settings: Required<Omit<IdClientOptions, 'baseUrls' | 'token' | 'timeoutMs'>>;
  private closed = false;
  readonly stats: IdClientStats = { hits: 0, waits: 0, fetches: 0, failovers: 0, dropped: 0 };

  constructor(options: IdClientOptions) {
    if (!options.baseUrls?.length) throw new Error('IdClient: baseUrls must name at least one server');
    const maxBatch = options.maxBatch ?? 10_000;
    const maxInFlight = options.maxInFlight ?? 4;
    this.settings = {
      safeDistanceMs: options.safeDistanceMs ?? 2000,
      maxBatch,
      maxInFlight,
      maxHeld: options.maxHeld ?? maxBatch * maxInFlight,
      minBatch: Math.min(options.minBatch ?? 64, maxBatch),
      maxAgeMs: options.maxAgeMs ?? 1000,
      rangeAnswers: options.rangeAnswers ?? true,
    };
    if (this.settings.maxHeld < this.settings.minBatch) throw new Error('IdClient: maxHeld must be at least minBatch');
    this.transport = new HttpTransport(options.baseUrls, options.token, options.timeoutMs ?? 2000, () => this.stats.failovers++);
  }

  /** one id, from the cache when it holds one; else after one refill */
  next(strategy: string, key = 'default'): Promise<string> {
    let cache: IdCache;
    try {
      cache = this.cacheFor(strategy, key);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = cache.take();
    if (id !== undefined) {
      this.stats.hits++;
      if (!cache.refillStarted) return Promise.resolve(id);
      cache.refillStarted = false;
      return new Promise((resolve) => setImmediate(resolve, id));
    }
    this.stats.waits++;
    cache.refillStarted = false;
    return cache.wait();
  }

  /** one id if the cache holds one, else undefined (and a refill is on its way): never waits */
  tryNext(strategy: string, key = 'default'): string | undefined {
    const id = this.cacheFor(strategy, key).take();
    if (id !== undefined) this.stats.hits++;
    return id;
  }

  /**
   * count ids straight from the server (no cache), all or nothing. With `idempotencyKey` (a string,
   * or true for a fresh random one per call) it is sent as POST with that Idempotency-Key: a
   * retry after a timeout or a failover to another server answers the same ids, never a second set.
   * Formatted keys (business numbers) answer their strings here as on any route.
   */
  async batch(strategy: string, key: string, count: number, options: { idempotencyKey?: string | true } = {}): Promise<string[]> {
    this.checkOpen();
    const idempotencyKey = options.idempotencyKey === true ? randomUUID() : options.idempotencyKey;
    const body = (await this.transport.get(idsPath(strategy, key, count, false), idempotencyKey)) as { ids: string[] };
    return body.ids;
  }

  /** ids held for strategy and key: in hand, and asked for in requests still in flight */
  held(strategy: string, key = 'default'): { inHand: number; inFlight: number } {
    const cache = this.caches.get(strategy)?.get(key);
    return cache ? { inHand: cache.inHand, inFlight: cache.inFlight } : { inHand: 0, inFlight: 0 };
  }

  /**
   * Drops every cached id (never handed out afterwards), aborts requests in flight, closes idle
   * connections and leaves no timer behind. Calls after close() fail with code CLOSED.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const byKey of this.caches.values()) for (const cache of byKey.values()) cache.close(closedError());
    this.caches.clear();
    this.lastStrategy = this.lastKey = this.lastCache = undefined;
    this.transport.close();
  }

  private cacheFor(strategy: string, key: string): IdCache {
    if (strategy === this.lastStrategy && key === this.lastKey) return this.lastCache!;
    let byKey = this.caches.get(strategy);
    if (byKey === undefined) {
      this.checkOpen();
      this.caches.set(strategy, (byKey = new Map()));
    }
    let cache = byKey.get(key);
    if (cache === undefined) {
      this.checkOpen();
      byKey.set(key, (cache = this.newCache(strategy, key)));
    }
    this.lastStrategy = strategy;
    this.lastKey = key;
    this.lastCache = cache;
    return cache;
  }

  private newCache(strategy: string, key: string): IdCache {
    let ranges = this.settings.rangeAnswers && RANGED.has(strategy);
    const refill: Refill = async (count) => {
      let body: unknown;
      try {
        body = await this.transport.get(idsPath(strategy, key, count, ranges));
      } catch (e) {
        if (!ranges || !(e instanceof IdClientError) || e.code !== 'INVALID_FORMAT') throw e;
        ranges = false; // a public key, or a server without ranges: lists from now on
        body = await this.transport.get(idsPath(strategy, key, count, false));
      }
      this.stats.fetches++;
      return body as { ids?: string[]; ranges?: [string, string][] };
    };
    return new IdCache(refill, {
      ...this.settings,
      maxAgeMs: TIME_ORDERED.has(strategy) ? this.settings.maxAgeMs : undefined,
      onDropped: (n) => (this.stats.dropped += n),
    });
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }
}

function closedError(): IdClientError {
  return new IdClientError('CLOSED', 'IdClient: closed');
}

function idsPath(strategy: string, key: string, count: number, ranges: boolean): string {
  return `/ids/${encodeURIComponent(strategy)}?key=${encodeURIComponent(key)}&count=${count}${ranges ? '&format=ranges' : ''}`;
}
