import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IdError, IdExceptionFilter, ServiceState } from '@app/core';

/** One route that issues or reads ids, served by DirectRoutes. */
export interface DirectRoute {
  /** Fastify's path syntax: '/ids/:strategy' */
  readonly url: string;
  readonly contentType: string;
  /** the body; a thrown error or a rejected promise becomes the error contract */
  handle(request: FastifyRequest): string | Promise<string>;
}

const shuttingDown = () => new IdError('SHUTTING_DOWN', 'this instance is shutting down; ask another one');
const noHead = () => new IdError('METHOD_NOT_ALLOWED', 'the id routes answer GET only: a HEAD would spend ids');

/**
 * The routes that issue ids (/ids/*, /alloc, Leaf's /api/.../get/:key) are registered here on
 * the Fastify instance under the Nest app instead of through Nest controllers. Why: measured on
 * this stack, an empty Nest controller answering constant JSON reaches only ~0.8x the requests
 * of bare Fastify answering the same (Nest's router proxy, execution context, parameter
 * extraction and two awaits per request), so no Nest handler can reach the 0.9x the id routes
 * must. Everything else (admin, health, metrics, docs) stays on Nest. Each route's providers
 * (registry, tokens, counter) are still Nest's, its OpenAPI entry still comes from a controller
 * class with the usual decorators (see api-document.ts), and its errors still go through the one
 * IdExceptionFilter.
 *
 * Rules every direct route shares, kept here once: GET only (Fastify would otherwise expose a
 * HEAD that runs the handler and spends ids: HEAD answers 405 METHOD_NOT_ALLOWED without calling
 * it), 503 SHUTTING_DOWN with Retry-After once shutdown began, the route's content type on
 * success, JSON errors.
 */
@Injectable()
export class DirectRoutes {
  private readonly fastify: FastifyInstance;

  constructor(
    adapterHost: HttpAdapterHost,
    private readonly errors: IdExceptionFilter,
    private readonly state: ServiceState,
  ) {
    this.fastify = adapterHost.httpAdapter.getInstance<FastifyInstance>();
  }

  serve(route: DirectRoute): void {
    const { contentType } = route;
    const errors = this.errors;
    const state = this.state;
    this.fastify.route({
      method: 'GET',
      url: route.url,
      exposeHeadRoute: false,
      handler(request: FastifyRequest, reply: FastifyReply): void {
        let body: string | Promise<string>;
        try {
          if (state.shuttingDown) throw shuttingDown();
          body = route.handle(request);
        } catch (e) {
          errors.send(e, request, reply);
          return;
        }
        if (typeof body === 'string') {
          reply.header('content-type', contentType).send(body);
          return;
        }
        body.then(
          (b) => void reply.header('content-type', contentType).send(b),
          (e: unknown) => errors.send(e, request, reply),
        );
      },
    });
    this.fastify.route({
      method: 'HEAD',
      url: route.url,
      handler(request: FastifyRequest, reply: FastifyReply): void {
        reply.header('allow', 'GET');
        errors.send(noHead(), request, reply);
      },
    });
  }
}
