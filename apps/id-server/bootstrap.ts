import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { ModuleMetadata } from '@nestjs/common';
import type { Logger as Pino } from 'pino';
import { AppConfig, IdExceptionFilter } from '@app/core';
import { AppModule } from './app.module';
import { IssueCounter } from './metrics/issue-counter';
import { createRootLogger, ServiceLogger } from './logging';
import { buildOpenApiDocument } from './common/openapi';

export interface CreateAppOptions extends Pick<ModuleMetadata, 'imports'> {
  /** the root pino logger; made from the configuration when not given */
  logger?: Pino;
}

/** The configured application, not yet listening: used by main.ts and by in-process tests. */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    requestTimeout: config.HTTP_READ_TIMEOUT_MS,
    connectionTimeout: config.HTTP_WRITE_TIMEOUT_MS,
  });
  const root = options.logger ?? createRootLogger(config);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, root, { imports: options.imports }), adapter, {
    logger: new ServiceLogger(root),
    abortOnError: false,
  });

  // Nest also routes Fastify's own errors (a body that is not JSON) and unknown routes here.
  const counter = app.get(IssueCounter);
  app.useGlobalFilters(new IdExceptionFilter((code) => counter.error(code)));

  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  // no enableShutdownHooks: main.ts closes the app on SIGTERM/SIGINT itself and exits 0
  // (Nest's hooks re-raise the signal, which ends the process with 143/130)
  return app;
}
