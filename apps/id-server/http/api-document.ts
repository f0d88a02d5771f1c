import { Logger, LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AllocController } from '../compat/alloc.controller';
import { LeafController } from '../compat/leaf.controller';
import { IdsController } from '../ids/ids.controller';
import { SnowflakeController } from '../snowflake/snowflake.controller';

/**
 * The controller classes that document the direct routes (DirectRoutes serves them). They live in
 * no module of the app, so Nest never routes them; a second Nest application in preview mode
 * (modules scanned, nothing instantiated, nothing listening) holds them for Swagger's scanner.
 */
@Module({ controllers: [IdsController, SnowflakeController, AllocController, LeafController] })
class DirectRoutesApiModule {}

/**
 * The OpenAPI paths and schemas of the direct routes, from their controller classes' decorators.
 * Nest installs a factory's logger as the process-wide one: the preview app is built silent (its
 * "PREVIEW mode" banner is no news), then the app's own logger is put back, or every Nest Logger
 * of the running service would print nothing from then on.
 */
export async function directRoutesDocument(config: Omit<OpenAPIObject, 'paths'>, logger: LoggerService): Promise<OpenAPIObject> {
  try {
    const declarations = await NestFactory.create<NestFastifyApplication>(DirectRoutesApiModule, new FastifyAdapter(), {
      preview: true,
      logger: false,
    });
    try {
      return SwaggerModule.createDocument(declarations, config);
    } finally {
      await declarations.close();
    }
  } finally {
    Logger.overrideLogger(logger);
  }
}
