import { IdError, IdGenerator, IdRange } from '@app/core';

/**
 * `format=ranges`: the ids of a batch as consecutive ranges, `{"strategy","key","ranges":[["1001","2000"]]}`,
 * for clients that expand ranges themselves (libs/client) rather than parse a JSON list of
 * decimal ids on their own thread. Same ids, same all-or-nothing rule as the list answer.
 * `format=ids` (the default) is the list. Returns whether ranges were asked for.
 */
export function wantsRanges(query: Record<string, unknown>): boolean {
  const format = query.format;
  if (format === undefined || format === 'ids') return false;
  if (format === 'ranges') return true;
  throw new IdError('INVALID_FORMAT', 'format: "ids" (the default) or "ranges", given once');
}

/** the ranges answer from the generator, pre-serialised like the list answer */
export function rangesAnswer(generator: IdGenerator, key: string, count: number): string | Promise<string> {
  if (generator.nextRanges === undefined) {
    throw new IdError(
      'INVALID_FORMAT',
      `format=ranges: ${generator.strategy} ids are not consecutive; only segment (plain keys) and partition answer ranges`,
    );
  }
  const render = (ranges: IdRange[]) =>
    `{"strategy":"${generator.strategy}","key":"${key}","ranges":[${ranges.map(([first, last]) => `["${first}","${last}"]`).join(',')}]}`;
  const ranges = generator.nextRanges(key, count);
  return Array.isArray(ranges) ? render(ranges) : ranges.then(render);
}
