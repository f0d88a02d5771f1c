import { Module } from '@nestjs/common';
import { IdsRoutes } from './ids.routes';

/** GET /ids/:strategy (served directly on Fastify; IdsController documents it). */
@Module({ providers: [IdsRoutes] })
export class IdsModule {}
