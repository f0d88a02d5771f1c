import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerDocumentOptions, SwaggerModule } from '@nestjs/swagger';
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

const DOCUMENT_OPTIONS: SwaggerDocumentOptions = {};

function baseDocument() {
  return new DocumentBuilder()
    .setTitle('id-allocator')
    .setDescription('Globally unique 64-bit ids: segment, partition, ticket, snowflake, uuid, uuidv7')
    .setVersion('0.1.0')
    .addBearerAuth()
    .build();
}

/** One OpenAPI document: the app's Nest routes and the direct routes, each from its decorators. */
export async function apiDocument(app: NestFastifyApplication): Promise<OpenAPIObject> {
  const document = SwaggerModule.createDocument(app, baseDocument(), DOCUMENT_OPTIONS);
  const declarations = await NestFactory.create<NestFastifyApplication>(DirectRoutesApiModule, new FastifyAdapter(), {
    preview: true,
    logger: false,
  });
  try {
    const direct = SwaggerModule.createDocument(declarations, baseDocument(), DOCUMENT_OPTIONS);
    document.paths = { ...direct.paths, ...document.paths };
    document.components = {
      ...document.components,
      schemas: { ...direct.components?.schemas, ...document.components?.schemas },
    };
    return document;
  } finally {
    await declarations.close();
  }
}
