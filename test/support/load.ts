/**
 * Concurrent callers pulling ids in batches from a changing set of servers, bounded in count and
 * time. Every id is kept, so uniqueness is checked on the whole set, not a sample.
 */
export interface LoadResult {
  ids: string[];
  failures: number;
  statuses: Record<string, number>;
}

export async function pullIds(options: {
  urls: () => string[];
  path: string;
  total: number;
  batch: number;
  concurrency: number;
  deadlineMs: number;
  onProgress?: (collected: number) => void | Promise<void>;
  /** ids from a successful answer */
  pick?: (body: any) => string[];
}): Promise<LoadResult> {
  const ids: string[] = [];
  const statuses: Record<string, number> = {};
  let failures = 0;
  let next = 0;
  const deadline = Date.now() + options.deadlineMs;
  const pick = options.pick ?? ((b: { ids: string[] }) => b.ids);
  const caller = async () => {
    while (ids.length < options.total && Date.now() < deadline) {
      const urls = options.urls();
      const url = urls[next++ % urls.length];
      try {
        const res = await fetch(`${url}${options.path}${options.path.includes('?') ? '&' : '?'}count=${options.batch}`);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        const body = (await res.json()) as any;
        if (res.status === 200) {
          const got = pick(body);
          if (got.length !== options.batch) throw new Error(`asked ${options.batch}, got ${got.length}`);
          ids.push(...got);
          await options.onProgress?.(ids.length);
        } else {
          failures++;
          await new Promise((r) => setTimeout(r, 20));
        }
      } catch (e) {
        if ((e as Error).message.startsWith('asked')) throw e;
        statuses.network = (statuses.network ?? 0) + 1;
        failures++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, caller));
  return { ids, failures, statuses };
}

export function duplicates(ids: string[]): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) dups.push(id);
    seen.add(id);
  }
  return dups;
}
