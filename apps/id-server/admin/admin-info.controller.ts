import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard, APP_CONFIG, AppConfig, GeneratorRegistry, redactedSettings } from '@app/core';
import { SQL_POOL, SqlPool } from '@app/database';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { AdminInfoDto } from './admin-info.dto';
import type { StrategyName } from '../ids/ids.dto';

/** What this instance runs with: strategies and the effective settings, secrets redacted. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin')
export class AdminInfoController {
  constructor(
    private readonly registry: GeneratorRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SQL_POOL) private readonly pool: SqlPool | null,
  ) {}

  @Get('info')
  @ApiOperation({ operationId: 'getAdminInfo', summary: 'Strategies and effective settings (secrets redacted)' })
  @ApiOkResponse({ type: AdminInfoDto })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED')
  info(): AdminInfoDto {
    const settings = redactedSettings(this.config) as AdminInfoDto['settings'];
    // the database hosts of the URL and which is in use (addresses: admin only)
    const database = this.pool === null ? undefined : this.pool.status();
    return { strategies: this.registry.names() as StrategyName[], pid: process.pid, settings, ...(database ? { database } : {}) };
  }
}
