import { Injectable, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiTokens } from '@app/core';
import { SnowflakeIdGenerator } from '@app/snowflake';
import { DirectRoutes } from '../http/direct-routes';
import { rejectUnknownParameters } from '../ids/ids-query';

/**
 * GET /ids/snowflake/:id/decode, beside the other /ids/* routes and under their rules: no query
 * parameters, and with API_TOKENS set any valid token (the route names no key). Served by
 * DirectRoutes; documented by SnowflakeController.
 */
@Injectable()
export class SnowflakeRoutes implements OnModuleInit {
  constructor(
    private readonly routes: DirectRoutes,
    private readonly snowflake: SnowflakeIdGenerator,
    private readonly tokens: ApiTokens,
  ) {}

  onModuleInit(): void {
    this.routes.serve({
      url: '/ids/snowflake/:id/decode',
      contentType: 'application/json; charset=utf-8',
      handle: (request) => this.decode(request),
    });
  }

  decode(request: FastifyRequest): string {
    rejectUnknownParameters(request.query as Record<string, unknown>, []);
    this.tokens.check(request.headers.authorization, undefined);
    return JSON.stringify(this.snowflake.decode((request.params as { id: string }).id));
  }
}
