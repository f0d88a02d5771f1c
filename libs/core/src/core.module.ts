import { DynamicModule, Global, Module } from '@nestjs/common';
import type { AppConfig } from './config';
import { APP_CONFIG } from './core.constants';
import { GeneratorRegistry } from './generator-registry';
import { AdminGuard } from './http/admin.guard';
import { ApiTokens } from './http/api-tokens';
import { Observations } from './observations';
import { ServiceState } from './service-state';

/** The validated configuration, the strategy registry and the admin guard, for every module. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      providers: [{ provide: APP_CONFIG, useValue: config }, GeneratorRegistry, AdminGuard, ApiTokens, ServiceState, Observations],
      exports: [APP_CONFIG, GeneratorRegistry, AdminGuard, ApiTokens, ServiceState, Observations],
    };
  }
}
