import { IdError } from '@app/core';
import { wantsRanges } from './ranges-answer';

export const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/**
 * A formatted key's period key (`invoices~20261207`, made by the service, never by a caller):
 * named by the skip route only, which the runbook uses when a lost write halted one (its
 * requiredSkipTarget is listed under this name).
 */
export const PERIOD_KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,119}~[0-9]{4}(?:[0-9]{2}){0,2}$/;
const COUNT_PATTERN = /^[1-9][0-9]{0,8}$/;

export interface IdsQuery {
  key: string;
  count: number;
  /** format=ranges: the answer as consecutive ranges (see ranges-answer.ts) */
  ranges: boolean;
}

type Query = Record<string, unknown>;

/**
 * The /ids/* routes take only the parameters they name: a misspelt `?Key=orders` or `?cnt=5`
 * must not silently issue from `default` or one id. (The go-id-alloc and Leaf routes ignore
 * unknown parameters, as those services do.)
 */
export function rejectUnknownParameters(query: Query, allowed: readonly string[]): void {
  let unknown: string[] | undefined;
  for (const name in query) {
    if (!allowed.includes(name)) (unknown ??= []).push(name);
  }
  if (unknown === undefined) return;
  const shown = unknown.slice(0, 5).map((n) => JSON.stringify(n.length > 64 ? `${n.slice(0, 64)}...` : n));
  throw new IdError(
    'UNKNOWN_PARAMETER',
    `unknown query parameter${unknown.length > 1 ? 's' : ''} ${shown.join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}; ` +
      (allowed.length > 0 ? `this route takes ${allowed.join(' and ')}` : 'this route takes none'),
    { details: unknown.slice(0, 20).map((field) => ({ field: field.slice(0, 64), problem: 'unknown parameter' })) },
  );
}

/** a path or query key: the same rule on every route that takes one, named as that route names it */
export function checkKey(key: string, name = 'key', periodKeys = false): string {
  if (KEY_PATTERN.test(key) || (periodKeys && PERIOD_KEY_PATTERN.test(key))) return key;
  throw new IdError(
    'INVALID_KEY',
    `${name}: 1 to 128 characters of A-Z a-z 0-9 _ . : -${periodKeys ? ", or a period's key as listed (base~YYYYMMDD)" : ''}`,
  );
}

const IDS_PARAMETERS = ['key', 'count', 'format'] as const;

/**
 * The id route's query, checked by hand: this runs on every request, so no class-validator.
 * Fastify hands a repeated parameter over as an array; that is an error, not a pick.
 */
export function parseIdsQuery(query: Query, maxCount: number): IdsQuery {
  rejectUnknownParameters(query, IDS_PARAMETERS);
  let key = 'default';
  const k = query.key;
  if (k !== undefined) {
    if (typeof k !== 'string') throw new IdError('INVALID_KEY', 'key: give it once');
    key = checkKey(k);
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
  return { key, count, ranges: wantsRanges(query) };
}
