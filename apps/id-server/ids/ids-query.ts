import { IdError } from '@app/core';

export const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const COUNT_PATTERN = /^[1-9][0-9]{0,8}$/;

export interface IdsQuery {
  key: string;
  count: number;
}

/**
 * The id route's query, checked by hand: this runs on every request, so no class-validator.
 * Fastify hands a repeated parameter over as an array; that is an error, not a pick.
 */
export function parseIdsQuery(query: Record<string, unknown>, maxCount: number): IdsQuery {
  let key = 'default';
  const k = query.key;
  if (k !== undefined) {
    if (typeof k !== 'string') throw new IdError('INVALID_KEY', 'key: give it once');
    if (!KEY_PATTERN.test(k)) {
      throw new IdError('INVALID_KEY', 'key: 1 to 128 characters of A-Z a-z 0-9 _ . : -');
    }
    key = k;
  }
  let count = 1;
  const c = query.count;
  if (c !== undefined) {
    if (typeof c !== 'string') throw new IdError('INVALID_COUNT', 'count: give it once');
    if (!COUNT_PATTERN.test(c) || Number(c) > maxCount) {
      throw new IdError('INVALID_COUNT', `count: a whole number from 1 to ${maxCount}, digits only`);
    }
    count = Number(c);
  }
  return { key, count };
}
