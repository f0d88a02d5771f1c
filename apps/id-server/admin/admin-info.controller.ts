import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard, APP_CONFIG, AppConfig, GeneratorRegistry } from '@app/core';
import { MYSQL_POOL, MysqlPool } from '@app/database';
import { ApiErrors } from '../common/error-response.dto';

const SECRET_SETTINGS = new Set(['ADMIN_TOKEN', 'ID_SECRET', 'DATABASE_URL', 'PARTITIONS']);

/** What this instance runs with: strategies and the effective settings, secrets redacted. */
@ApiTags('admin')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('admin')
export class AdminInfoController {
  constructor(
    private readonly registry: GeneratorRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(MYSQL_POOL) private readonly pool: MysqlPool | null,
  ) {}

  @Get('info')
  @ApiOperation({ summary: 'Strategies and effective settings (secrets redacted)' })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED')
  info() {
    const settings: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(this.config)) {
      settings[name] = SECRET_SETTINGS.has(name) && value !== undefined ? '(set)' : value;
    }
    // the database hosts of the URL and which is in use (addresses: admin only)
    const database = this.pool === null ? undefined : this.pool.status();
    return { strategies: this.registry.names(), pid: process.pid, settings, ...(database ? { database } : {}) };
  }
}
