import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard, APP_CONFIG, AppConfig, GeneratorRegistry, redactedSettings } from '@app/core';
import { ApiErrors } from '../common/error-response.dto';

/** What this instance runs with: strategies and the effective settings, secrets redacted. */
@ApiTags('admin')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('admin')
export class AdminInfoController {
  constructor(
    private readonly registry: GeneratorRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('info')
  @ApiOperation({ summary: 'Strategies and effective settings (secrets redacted)' })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED')
  info() {
    return { strategies: this.registry.names(), pid: process.pid, settings: redactedSettings(this.config) };
  }
}
