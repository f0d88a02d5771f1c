import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { ModuleMetadata } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import type { Logger as Pino } from 'pino';
import { AppConfig, clientErrorResponse, IdExceptionFilter, ServiceState } from '@app/core';
import { AppModule } from './app.module';
import { logAdminRequests } from './admin/admin-request-log';
import { buildOpenApiDocument, openApiConfig, SWAGGER_UI_CSS } from './common/openapi';
import { directRoutesDocument } from './http/api-document';
import { edgeRouting } from './http/edge-routing';
import { EdgeServer, RequestListener } from './http/edge-server';
import { createRootLogger, ServiceLogger } from './logging';

export interface CreateAppOptions extends Pick<ModuleMetadata, 'imports'> {
  /** the root pino logger; made from the configuration when not given */
  logger?: Pino;
}

/** The configured application, not yet listening: used by main.ts and by in-process tests. */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  // Every answer is in the error contract, those Fastify makes itself included: its router's
  // refusals (frameworkErrors), socket-level client errors, and the 503 while closing, which
  // Fastify would send raw without Retry-After (return503OnClosing off: the direct routes answer
  // SHUTTING_DOWN once shutdown begins, see DirectRoutes).
  let errors: IdExceptionFilter | undefined;
  const adapter = new FastifyAdapter({
    bodyLimit: 64 * 1024,
    return503OnClosing: false,
    // the server is ours (the direct routes go first, the connection limits are set there)
    serverFactory: (nest: RequestListener, fastifyOptions: { keepAliveTimeout?: number }) =>
      new EdgeServer(
        { readTimeoutMs: config.HTTP_READ_TIMEOUT_MS, writeTimeoutMs: config.HTTP_WRITE_TIMEOUT_MS, keepAliveTimeoutMs: fastifyOptions.keepAliveTimeout ?? 72_000 },
        nest,
      ),
    ...edgeRouting(() => errors!),
    clientErrorHandler: (error, socket) => {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      const rawPacket = (error as unknown as { rawPacket?: unknown }).rawPacket;
      // The bad bytes may be what an earlier request on this connection left unread, followed by
      // the request its client now waits for (the last one named): answer in the shape its method
      // allows. A HEAD, or bytes that name no method at all, get no body (a HEAD's client could not
      // parse one).
      const methods = Buffer.isBuffer(rawPacket) ? rawPacket.toString('latin1').match(/(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS)(?= \/)/g) : null;
      const method = methods?.[methods.length - 1]; // the last: what came before is the earlier request's rest
      const head = method === undefined || method === 'HEAD';
      if (socket.writable) socket.end(clientErrorResponse((error as NodeJS.ErrnoException).code, head));
      socket.destroy(error);
    },
  });
  logAdminRequests(adapter.getInstance() as unknown as FastifyInstance);
  const root = options.logger ?? createRootLogger(config);
  const logger = new ServiceLogger(root);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, root, { imports: options.imports }), adapter, {
    logger,
    abortOnError: false,
  });

  // Nest also routes Fastify's own errors (a body that is not JSON) and unknown routes here.
  const filter = app.get(IdExceptionFilter);
  errors = filter;
  app.useGlobalFilters(filter);

  const document = buildOpenApiDocument(app, [await directRoutesDocument(openApiConfig(), logger)]);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', customCss: SWAGGER_UI_CSS });
  // no enableShutdownHooks: main.ts closes the app on SIGTERM/SIGINT itself and exits 0
  // (Nest's hooks re-raise the signal, which ends the process with 143/130)
  return app;
}

/**
 * The shutdown drain begins (SHUTDOWN_DRAIN_MS, see main.ts): readiness fails at once while
 * everything keeps answering, each answer closing its connection.
 */
export function startDrain(app: NestFastifyApplication): void {
  app.get(ServiceState).draining = true;
  (app.getHttpServer() as EdgeServer).closeConnectionsAfterAnswers();
}

/**
 * The end of the drain, before app.close(): stop listening, close the idle kept-alive connections
 * and let those with a request in flight answer it (with `Connection: close`), so that no request
 * reaches the instance once app.close() has begun answering SHUTTING_DOWN. Nothing would retry
 * that 503 for the caller; a balancer (nginx has no health check) retries a refused connection.
 */
export function stopListening(app: NestFastifyApplication): Promise<void> {
  const server = app.getHttpServer() as EdgeServer;
  // Fastify's own close later finds the server closed, which it accepts
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
