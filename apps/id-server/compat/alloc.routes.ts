import { Injectable, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiTokens, IdError } from '@app/core';
import { KeyInUse, PartitionGenerator, SegmentGenerator } from '@app/segment';
import { IssueCounter } from '../metrics/issue-counter';
import { DirectRoutes } from '../http/direct-routes';
import { checkKey } from '../ids/ids-query';

const JSON_TYPE = 'application/json; charset=utf-8';
/** go-id-alloc v1's success body; Id is below 2^53, so a plain JSON number */
const allocAnswer = (id: number): string => `{"Errno":0,"Msg":"","Id":${id}}`;
/** go-id-alloc's current version: the id as exact int64 digits, as it gives them */
const tagAllocAnswer = (id: string): string => `{"errno":0,"msg":"success","id":${id}}`;
const tagHealthAnswer = (left: number): string => `{"errno":0,"msg":"success","left":${left}}`;

/** `biz_tag` as go-id-alloc's current version takes it; unknown parameters are ignored, as it does. */
function bizTag(query: Record<string, unknown>): string {
  const tag = query.biz_tag;
  if (tag === undefined) throw new IdError('INVALID_KEY', 'biz_tag: required (?biz_tag=KEY)');
  if (typeof tag !== 'string') throw new IdError('INVALID_KEY', 'biz_tag: give it once');
  return checkKey(tag, 'biz_tag');
}

/**
 * go-id-alloc's routes in its own shapes: the first version's GET /alloc from the `partition`
 * sequence; the current version's GET /alloc?biz_tag=X and GET /health?biz_tag=X from the
 * `segment` key X. Failures keep those shapes (IdExceptionFilter) with our statuses. Served by
 * DirectRoutes; documented by AllocController.
 */
@Injectable()
export class AllocRoutes implements OnModuleInit {
  constructor(
    private readonly routes: DirectRoutes,
    private readonly partition: PartitionGenerator,
    private readonly segment: SegmentGenerator,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  onModuleInit(): void {
    this.routes.serve({ url: '/alloc', contentType: JSON_TYPE, handle: (request) => this.alloc(request) });
    this.routes.serve({ url: '/health', contentType: JSON_TYPE, handle: (request) => this.tagHealth(request) });
  }

  alloc(request: FastifyRequest): string | Promise<string> {
    const query = request.query as Record<string, unknown>;
    if (query.biz_tag !== undefined) return this.tagAlloc(bizTag(query), request.headers.authorization);
    this.tokens.check(request.headers.authorization, 'default');
    const id = this.partition.nextNumber();
    if (typeof id === 'number') {
      this.counter.add('partition', '', 1);
      return allocAnswer(id);
    }
    return id.then((n) => {
      this.counter.add('partition', '', 1);
      return allocAnswer(n);
    });
  }

  /** ids buffered for the key here; the first call loads it and waits for its first segment */
  tagHealth(request: FastifyRequest): string | Promise<string> {
    const key = bizTag(request.query as Record<string, unknown>);
    const stock = (k: KeyInUse) => {
      const left = k.buffer.stocked();
      // a public key's count is not for an unauthenticated route: only whether it can issue
      const shown = (n: number) => tagHealthAnswer(k.public ? (n > 0 ? 1 : 0) : n);
      return typeof left === 'number' ? shown(left) : left.then(shown);
    };
    const inUse = this.segment.use(key);
    return inUse instanceof Promise ? inUse.then(stock) : stock(inUse);
  }

  private tagAlloc(key: string, authorization: string | undefined): string | Promise<string> {
    this.tokens.check(authorization, key);
    const issue = (k: KeyInUse): string | Promise<string> => {
      if (k.public) {
        throw new IdError('INVALID_KEY', `key "${key}" is public: its ids come from GET /ids/segment?key=${key}, not /alloc`);
      }
      const ids = this.segment.next(key, 1);
      const answer = (list: string[]) => {
        this.counter.add('segment', key, 1);
        return tagAllocAnswer(list[0]);
      };
      return Array.isArray(ids) ? answer(ids) : ids.then(answer);
    };
    const inUse = this.segment.use(key);
    return inUse instanceof Promise ? inUse.then(issue) : issue(inUse);
  }
}
