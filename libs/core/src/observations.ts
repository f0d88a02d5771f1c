import { Injectable } from '@nestjs/common';

export type FetchListener = (strategy: string, key: string, ms: number) => void;

/**
 * Events strategies report for metrics without knowing of Prometheus: the metrics module
 * listens. Not on the per-id path (one event per database fetch).
 */
@Injectable()
export class Observations {
  private readonly fetchListeners: FetchListener[] = [];

  onFetch(listener: FetchListener): void {
    this.fetchListeners.push(listener);
  }

  fetched(strategy: string, key: string, ms: number): void {
    for (const listener of this.fetchListeners) listener(strategy, key, ms);
  }
}
