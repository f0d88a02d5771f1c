import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IdError, IdExceptionFilter, ServiceState } from '@app/core';
import { edgeRouting } from './edge-routing';
import { EdgeServer } from './edge-server';
import { RequestStats } from '../metrics/request-stats';

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
 * The routes that issue ids (/ids/*, /alloc, Leaf's /api/.../get/:key) are served here, on a
 * Fastify instance of their own, instead of through Nest controllers on Nest's. Why: measured on
 * this stack, an empty Nest controller answering constant JSON reaches only ~0.8x the requests
 * of bare Fastify answering the same (Nest's router proxy, execution context, parameter
 * extraction and two awaits per request); and a route registered on Nest's Fastify instance
 * still runs the five hooks Nest's adapter puts there (four onRequest, one onResponse, which
 * arms response listeners): ~7% of the id routes' CPU, measured side by side with bare Fastify,
 * for hooks that do nothing in this service (no Nest middleware, CORS or versioning). So no
 * route on Nest's instance can reach the 0.9x of bare Fastify the id routes must. The server
 * (EdgeServer) gives GET and HEAD to this instance first; what it does not route goes back,
 * untouched, to Nest's (the not-found handler below), so every other route, 404s included,
 * answers as before. Everything else (admin, health, metrics, docs) stays on Nest. Each route's
 * providers (registry, tokens, counter) are still Nest's, its OpenAPI entry still comes from a
 * controller class with the usual decorators (see api-document.ts), and its errors still go
 * through the one IdExceptionFilter.
 *
 * Rules every direct route shares, kept here once: GET only (Fastify would otherwise expose a
 * HEAD that runs the handler and spends ids: HEAD answers 405 METHOD_NOT_ALLOWED without calling
 * it), 503 SHUTTING_DOWN with Retry-After once shutdown began, the route's content type on
 * success, JSON errors.
 */
@Injectable()
export class DirectRoutes implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly fastify: FastifyInstance;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly errors: IdExceptionFilter,
    private readonly state: ServiceState,
    private readonly stats: RequestStats,
  ) {
    this.fastify = Fastify({ logger: false, return503OnClosing: false, ...edgeRouting(() => errors) });
    this.fastify.setErrorHandler((error, request, reply) => errors.send(error, request, reply));
  }

  /** routes are served once every module has declared its own (onModuleInit) */
  async onApplicationBootstrap(): Promise<void> {
    const server = this.adapterHost.httpAdapter.getHttpServer() as unknown;
    if (!(server instanceof EdgeServer)) throw new Error('DirectRoutes needs the EdgeServer (see createApp)');
    const nest = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // what this instance does not route is Nest's: handed back as it came (GET and HEAD only, so
    // no body has been read)
    this.fastify.setNotFoundHandler((request, reply) => {
      reply.hijack();
      nest.routing(request.raw, reply.raw);
    });
    await this.fastify.ready();
    server.serveFirst((req, res) => this.fastify.routing(req, res));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.fastify.close();
  }

  serve(route: DirectRoute): void {
    const { contentType } = route;
    const errors = this.errors;
    const state = this.state;
    // every answer is counted by status with its latency (the id routes' availability and
    // latency metrics): a clock read and a few array increments, see RouteStats
    const stats = this.stats.route(route.url);
    const failed = (e: unknown, request: FastifyRequest, reply: FastifyReply, start: number) => {
      errors.send(e, request, reply);
      stats.record(reply.statusCode, start);
    };
    this.fastify.route({
      method: 'GET',
      url: route.url,
      exposeHeadRoute: false,
      handler(request: FastifyRequest, reply: FastifyReply): void {
        const start = performance.now();
        let body: string | Promise<string>;
        try {
          if (state.shuttingDown) throw shuttingDown();
          body = route.handle(request);
        } catch (e) {
          failed(e, request, reply, start);
          return;
        }
        if (typeof body === 'string') {
          reply.header('content-type', contentType).send(body);
          stats.record(200, start);
          return;
        }
        body.then(
          (b) => {
            reply.header('content-type', contentType).send(b);
            stats.record(200, start);
          },
          (e: unknown) => failed(e, request, reply, start),
        );
      },
    });
    this.fastify.route({
      method: 'HEAD',
      url: route.url,
      handler(request: FastifyRequest, reply: FastifyReply): void {
        reply.header('allow', 'GET');
        failed(noHead(), request, reply, performance.now());
      },
    });
  }
}
