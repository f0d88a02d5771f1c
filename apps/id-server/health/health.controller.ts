import { Controller, Get, Inject } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { GeneratorRegistry, ServiceState } from '@app/core';
import { SQL_POOL, SqlPool } from '@app/database';
import { ApiHealthResponses, LivenessDto, PartitionStatePartDto, ReadinessDto, SegmentKeyPartDto } from './health.dto';

/**
 * Liveness never touches the database. Readiness is 503 only for what is wrong with this
 * instance (a strategy reporting ready: false, or draining and shutting down); troubles every instance shares
 * are parts with status "down" inside a strategy's detail, under a 200 (DESIGN.md, "Readiness").
 */
@ApiTags('health')
@ApiExtraModels(SegmentKeyPartDto, PartitionStatePartDto)
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly registry: GeneratorRegistry,
    private readonly state: ServiceState,
    @Inject(SQL_POOL) private readonly pool: SqlPool | null,
  ) {}

  @Get('live')
  @ApiOperation({ operationId: 'liveness', summary: 'Liveness: the process serves HTTP (never touches the database)' })
  @HealthCheck({ swaggerDocumentation: false })
  @ApiHealthResponses(LivenessDto, false)
  live() {
    return this.health.check([() => this.indicator.check('process').up({ uptimeSeconds: Math.round(process.uptime()) })]);
  }

  @Get('ready')
  @ApiOperation({ operationId: 'readiness', summary: 'Readiness: this instance can issue ids' })
  @HealthCheck({ swaggerDocumentation: false })
  @ApiHealthResponses(ReadinessDto, true)
  ready() {
    const checks = this.registry.all().map((generator) => () => {
      const { ready, detail } = generator.health();
      const session = this.indicator.check(generator.strategy);
      return ready ? session.up(detail) : session.down(detail);
    });
    const pool = this.pool;
    if (pool !== null) {
      // which host of the URL is in use, as "2 of 3": addresses only in the log and the admin API
      checks.unshift(() => this.indicator.check('database').up({ host: pool.status().inUse }));
    }
    checks.unshift(() => {
      const session = this.indicator.check('instance');
      // no pid or host: readiness is unauthenticated (GET /admin/info names the process)
      const reason = this.state.stopReason;
      return reason === undefined ? session.up() : session.down({ reason });
    });
    return this.health.check(checks);
  }
}
