import { Module } from '@nestjs/common';
import { IdsRoutes } from './ids.routes';
import { IdsPostController } from './ids-post.controller';
import { IdempotencyPurge, idempotentIssuerProvider } from './idempotency.provider';

/** GET /ids/:strategy (served directly on Fastify; IdsController documents it); POST /ids/:strategy (Nest, idempotent with a key). */
@Module({ controllers: [IdsPostController], providers: [IdsRoutes, idempotentIssuerProvider, IdempotencyPurge] })
export class IdsModule {}
