import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../core.constants';
import type { AppConfig } from '../config';
import { IdError } from '../errors';
import { BearerSecret } from './bearer-secret';

/** `Authorization: Bearer $ADMIN_TOKEN` on every admin route (constant-time, see BearerSecret). */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: BearerSecret;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    if (config.ADMIN_TOKEN) this.expected = new BearerSecret(config.ADMIN_TOKEN);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) {
      throw new IdError('ADMIN_DISABLED', 'admin routes are disabled: set ADMIN_TOKEN (16+ characters) to enable them');
    }
    if (!this.expected.matches(context.switchToHttp().getRequest<FastifyRequest>().headers.authorization)) {
      throw new IdError('UNAUTHORIZED', 'admin routes need the header "Authorization: Bearer <ADMIN_TOKEN>"');
    }
    return true;
  }
}
