import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, ApiTokens, AppConfig, GeneratorRegistry, IdGenerator } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { DirectRoutes } from '../http/direct-routes';
import { IdsQuery, parseIdsQuery } from './ids-query';
import { rangesAnswer } from './ranges-answer';

/**
 * The answer pre-serialised: strategy is a registered name, key matched KEY_PATTERN and ids are
 * digits or uuid hex, so nothing needs escaping, and JSON.stringify's generic walk is skipped.
 */
function answer(strategy: string, key: string, ids: string[]): string {
  // most requests ask for one id: no join for it
  return `{"strategy":"${strategy}","key":"${key}","ids":["${ids.length === 1 ? ids[0] : ids.join('","')}"]}`;
}

function listAnswer(generator: IdGenerator, strategy: string, key: string, count: number): string | Promise<string> {
  const ids = generator.next(key, count);
  return Array.isArray(ids) ? answer(strategy, key, ids) : ids.then((list) => answer(strategy, key, list));
}

export interface IdsRequest extends IdsQuery {
  strategy: string;
  generator: IdGenerator;
}

/**
 * GET /ids/:strategy, the one place an id request becomes an answer: look the strategy up, check,
 * generate. Served by DirectRoutes; documented by IdsController.
 */
@Injectable()
export class IdsRoutes implements OnModuleInit {
  private readonly maxCount: number;

  constructor(
    private readonly routes: DirectRoutes,
    private readonly registry: GeneratorRegistry,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.maxCount = config.MAX_COUNT;
  }

  onModuleInit(): void {
    this.routes.serve({
      url: '/ids/:strategy',
      contentType: 'application/json; charset=utf-8',
      handle: (request) => this.next(request),
    });
  }

  next(request: FastifyRequest): string | Promise<string> {
    const query = this.parse((request.params as { strategy: string }).strategy, request.query as Record<string, unknown>, request.headers.authorization);
    return this.answer(query);
  }

  /** the strategy, the query and the token checked: what a request asks for (POST fingerprints it) */
  parse(strategy: string, rawQuery: Record<string, unknown>, authorization: string | undefined): IdsRequest {
    const generator = this.registry.get(strategy);
    const query = parseIdsQuery(rawQuery, this.maxCount);
    this.tokens.check(authorization, query.key);
    return { ...query, strategy, generator };
  }

  /** the answer's body: ids issued */
  answer({ generator, strategy, key, count, ranges }: IdsRequest): string | Promise<string> {
    const body = ranges ? rangesAnswer(generator, key, count) : listAnswer(generator, strategy, key, count);
    if (typeof body === 'string') {
      this.counter.add(strategy, key, count);
      return body;
    }
    return body.then((b) => {
      this.counter.add(strategy, key, count);
      return b;
    });
  }
}
