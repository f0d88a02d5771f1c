import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../core.constants';
import type { AppConfig } from '../config';
import { IdError } from '../errors';

const BEARER = 'Bearer ';

/**
 * Optional tokens for the id routes (API_TOKENS), each optionally limited to some keys, as
 * Tinyid does. Off by default: then check() is a single comparison.
 */
@Injectable()
export class ApiTokens {
  /** token -> the keys it may use, or null for every key */
  private readonly tokens?: Map<string, Set<string> | null>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    if (config.API_TOKENS && config.API_TOKENS.length > 0) {
      this.tokens = new Map(config.API_TOKENS.map((t) => [t.token, t.keys ? new Set(t.keys) : null]));
    }
  }

  get enabled(): boolean {
    return this.tokens !== undefined;
  }

  /**
   * 401 UNAUTHORIZED without a valid token, 403 FORBIDDEN for a key the token is not granted.
   * key undefined: a route that names no key (the snowflake decode), open to any valid token.
   */
  check(authorization: string | string[] | undefined, key: string | undefined): void {
    if (this.tokens === undefined) return;
    const token = typeof authorization === 'string' && authorization.startsWith(BEARER) ? authorization.slice(BEARER.length) : undefined;
    const keys = token === undefined ? undefined : this.tokens.get(token);
    if (keys === undefined) throw new IdError('UNAUTHORIZED', 'the id routes need "Authorization: Bearer <token>" (API_TOKENS is set)');
    if (keys !== null && key !== undefined && !keys.has(key)) throw new IdError('FORBIDDEN', `this token is not granted key "${key}"`);
  }
}
