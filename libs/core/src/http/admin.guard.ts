import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../core.constants';
import type { AppConfig } from '../config';
import { IdError } from '../errors';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * `Authorization: Bearer $ADMIN_TOKEN` on every admin route. Digests make the comparison
 * constant-time whatever the length of the presented token.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    if (config.ADMIN_TOKEN) this.expected = digest(config.ADMIN_TOKEN);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) {
      throw new IdError('ADMIN_DISABLED', 'admin routes are disabled: set ADMIN_TOKEN (16+ characters) to enable them');
    }
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
    if (match === null || !timingSafeEqual(digest(match[1]), this.expected)) {
      throw new IdError('UNAUTHORIZED', 'admin routes need the header "Authorization: Bearer <ADMIN_TOKEN>"');
    }
    return true;
  }
}
