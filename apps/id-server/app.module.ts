import { DynamicModule, Module } from '@nestjs/common';
import type { ModuleMetadata } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as Pino } from 'pino';
import { AppConfig, CoreModule } from '@app/core';
import { DatabaseModule } from '@app/database';
import { PartitionModule, SegmentModule, TicketModule } from '@app/segment';
import { UuidModule } from '@app/uuid';
import { AdminModule } from './admin/admin.module';
import { CompatModule } from './compat/compat.module';
import { RootController } from './common/root.controller';
import { HealthModule } from './health/health.module';
import { HttpEdgeModule } from './http/http-edge.module';
import { IdsModule } from './ids/ids.module';
import { MetricsModule } from './metrics/metrics.module';
import { SnowflakeHttpModule } from './snowflake/snowflake-http.module';

/** Strategy modules: each registers its IdGenerator; nothing else names them. */
const STRATEGY_MODULES = [SegmentModule, PartitionModule, TicketModule, UuidModule, SnowflakeHttpModule];

/** The composition root. `imports` lets tests add a strategy of their own. */
@Module({})
export class AppModule {
  /** `logger`: the root pino logger (createRootLogger), which request logs use too */
  static forRoot(config: AppConfig, logger: Pino, extra: Pick<ModuleMetadata, 'imports'> = {}): DynamicModule {
    return {
      module: AppModule,
      controllers: [RootController],
      imports: [
        CoreModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: { logger, autoLogging: true, quietReqLogger: true },
          // No request middleware: admin requests are logged by a route hook (logAdminRequests)
          // through this same root logger (its redaction applies), the id routes are counted by
          // metrics. Middleware would run @fastify/middie on every request.
          forRoutes: [],
        }),
        DatabaseModule.forRoot(config),
        ...STRATEGY_MODULES,
        MetricsModule,
        HttpEdgeModule,
        ...(extra.imports ?? []),
        IdsModule,
        HealthModule,
        AdminModule,
        CompatModule,
      ],
    };
  }
}
