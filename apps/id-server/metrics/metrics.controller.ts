import { Controller, Get, Header, Headers, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig, BearerSecret, IdError } from '@app/core';
import { ApiErrors } from '../common/error-response.dto';
import { MetricsService } from './metrics.service';

/**
 * Open to any scraper, as Prometheus expects, except for the per-key series of public keys:
 * those only with `Authorization: Bearer $METRICS_TOKEN` (the id routes' callers must not
 * count a public key's ids). A wrong token is refused, so a misconfigured scraper notices.
 */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  private readonly token?: BearerSecret;

  constructor(
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    if (config.METRICS_TOKEN) this.token = new BearerSecret(config.METRICS_TOKEN);
  }

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({
    operationId: 'metrics',
    summary: 'Prometheus metrics (names and labels in the README)',
    description:
      'Open to any scraper, but the per-key series of public keys come only with "Authorization: Bearer <METRICS_TOKEN>"; a wrong token answers 401.',
  })
  @ApiOkResponse({ description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiErrors('UNAUTHORIZED')
  scrape(@Headers('authorization') authorization?: string): Promise<string> {
    if (authorization === undefined || this.token === undefined) return this.metrics.metrics(false);
    if (!this.token.matches(authorization)) {
      throw new IdError('UNAUTHORIZED', 'wrong metrics token: send "Authorization: Bearer <METRICS_TOKEN>", or no header for the public view');
    }
    return this.metrics.metrics(true);
  }
}
