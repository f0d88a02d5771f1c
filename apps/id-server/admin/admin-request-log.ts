import type { FastifyInstance, onResponseHookHandler } from 'fastify';
import { PinoLogger } from 'nestjs-pino';

const ADMIN_PREFIX = '/admin';

/**
 * One "request completed" line per admin request, where people act (the admin operations also
 * log what they changed). Reads (GET, HEAD) at debug: an open dashboard polls two of them every
 * 2 s, which at info buried every other line; writes stay at info. A route-level onResponse hook on the /admin routes alone, instead of
 * nestjs-pino's request middleware: bound through Nest middleware, that made @fastify/middie run
 * on every request, id routes included (~4% of their CPU in the profile, plus the getters it
 * reads). The line goes through nestjs-pino's root logger and its serializers, so the pino
 * configuration (level, redaction) applies to it unchanged. Call before the routes are registered.
 */
export function logAdminRequests(fastify: FastifyInstance): void {
  const logCompleted: onResponseHookHandler = (request, reply, done) => {
    const level = request.method === 'GET' || request.method === 'HEAD' ? 'debug' : 'info';
    PinoLogger.root[level]({ req: request.raw, res: reply.raw, responseTime: reply.elapsedTime }, 'request completed');
    done();
  };
  fastify.addHook('onRoute', (route) => {
    if (route.url !== ADMIN_PREFIX && !route.url.startsWith(`${ADMIN_PREFIX}/`)) return;
    const own = route.onResponse === undefined ? [] : Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse];
    route.onResponse = [...own, logCompleted];
  });
}
