import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorForLog } from '../errors';
import { renderError } from './error-body';

/** at most one log line per interval, saying how many were left out */
class ThrottledWarning {
  private lastAt = 0;
  private skipped = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  warn(message: string): void {
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) {
      this.skipped++;
      return;
    }
    this.logger.warn(this.skipped > 0 ? `${message} (and ${this.skipped} more since the last such line)` : message);
    this.lastAt = now;
    this.skipped = 0;
  }
}

/** Routes that keep the shapes of the products they are compatible with. */
const TERMINUS_PREFIX = '/health/';

/**
 * go-id-alloc's failure shapes (it answers them with a 500; we keep our status so callers and
 * balancers can tell a retry from a mistake): its first version's /alloc, its current version's
 * /alloc?biz_tag= and /health?biz_tag=.
 */
function goIdAllocFailure(path: string, query: unknown, msg: string): object | undefined {
  const tagged = (query as Record<string, unknown> | undefined)?.biz_tag !== undefined;
  if (path === '/alloc') return tagged ? { errno: -1, msg, id: 0 } : { Errno: -1, Msg: msg, Id: 0 };
  if (path === '/health') return { errno: -1, msg, left: 0 };
  return undefined;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The one place an error becomes an HTTP answer. Also installed as Fastify's own error handler
 * (see bootstrap), so errors raised before Nest sees the request get the same shape.
 */
@Catch()
export class IdExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');
  /** callers get the stable code and generic words; the driver's text (addresses) is logged here */
  private readonly databaseTrouble = new ThrottledWarning(this.logger);

  /** onError: told the code of every error answered (metrics) */
  constructor(private readonly onError?: (code: string) => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.send(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }

  send(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const path = pathOf(request.url);
    if (path.startsWith(TERMINUS_PREFIX) && exception instanceof HttpException) {
      // Terminus answers a failed check with its own body: pass it through unchanged.
      reply.status(exception.getStatus()).send(exception.getResponse());
      return;
    }
    const { body, retryAfter, internal } = renderError(exception);
    this.onError?.(body.code);
    if (internal) {
      this.logger.error(
        `${request.method} ${path}: ${exception instanceof Error ? exception.stack ?? exception.message : String(exception)}`,
      );
    }
    if (body.code === 'DATABASE_UNAVAILABLE') this.databaseTrouble.warn(`${request.method} ${path}: ${errorForLog(exception)}`);
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    // a route that answers text/plain (Leaf's) still errs in JSON
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.status(body.statusCode).send(goIdAllocFailure(path, request.query, `${body.code}: ${body.message}`) ?? body);
  }
}
