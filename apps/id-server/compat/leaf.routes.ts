import { Injectable, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiTokens, GeneratorRegistry } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { DirectRoutes } from '../http/direct-routes';
import { checkKey } from '../ids/ids-query';

/**
 * Meituan Leaf's routes: the id as text/plain. Errors are our JSON with a non-2xx status, never
 * Leaf's 200 with "0" or a negative number. Unknown query parameters are ignored, as Leaf does.
 * Served by DirectRoutes; documented by LeafController.
 */
@Injectable()
export class LeafRoutes implements OnModuleInit {
  constructor(
    private readonly routes: DirectRoutes,
    private readonly registry: GeneratorRegistry,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  onModuleInit(): void {
    for (const strategy of ['segment', 'snowflake']) {
      this.routes.serve({
        url: `/api/${strategy}/get/:key`,
        contentType: 'text/plain; charset=utf-8',
        handle: (request) => this.one(strategy, request),
      });
    }
  }

  private one(strategy: string, request: FastifyRequest): string | Promise<string> {
    const generator = this.registry.get(strategy);
    const key = checkKey((request.params as { key: string }).key);
    this.tokens.check(request.headers.authorization, key);
    const ids = generator.next(key, 1);
    if (Array.isArray(ids)) {
      this.counter.add(strategy, key, 1);
      return ids[0];
    }
    return ids.then((list) => {
      this.counter.add(strategy, key, 1);
      return list[0];
    });
  }
}
