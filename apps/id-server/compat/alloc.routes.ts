import { Injectable, OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiTokens } from '@app/core';
import { PartitionGenerator } from '@app/segment';
import { IssueCounter } from '../metrics/issue-counter';
import { DirectRoutes } from '../http/direct-routes';

/** go-id-alloc v1's success body; Id is below 2^53, so a plain JSON number */
const allocAnswer = (id: number): string => `{"Errno":0,"Msg":"","Id":${id}}`;

/**
 * go-id-alloc's GET /alloc, from the `partition` sequence, in its own shape (errors: the
 * IdExceptionFilter's /alloc shape). Unknown query parameters are ignored, as go-id-alloc does.
 * Served by DirectRoutes; documented by AllocController.
 */
@Injectable()
export class AllocRoutes implements OnModuleInit {
  constructor(
    private readonly routes: DirectRoutes,
    private readonly partition: PartitionGenerator,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  onModuleInit(): void {
    this.routes.serve({ url: '/alloc', contentType: 'application/json; charset=utf-8', handle: (request) => this.alloc(request) });
  }

  alloc(request: FastifyRequest): string | Promise<string> {
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
}
