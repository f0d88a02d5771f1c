import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { ModuleMetadata } from '@nestjs/common';
import { Logger } from 'nestjs-pino';
import { AppConfig, IdExceptionFilter } from '@app/core';
import { AppModule } from './app.module';
import { IssueCounter } from './metrics/issue-counter';
import { buildOpenApiDocument } from './common/openapi';

export interface CreateAppOptions extends Pick<ModuleMetadata, 'imports'> {}

/** The configured application, not yet listening: used by main.ts and by in-process tests. */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    requestTimeout: config.HTTP_READ_TIMEOUT_MS,
    connectionTimeout: config.HTTP_WRITE_TIMEOUT_MS,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();

  // Nest also routes Fastify's own errors (a body that is not JSON) and unknown routes here.
  const counter = app.get(IssueCounter);
  app.useGlobalFilters(new IdExceptionFilter((code) => counter.error(code)));

  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  return app;
}
