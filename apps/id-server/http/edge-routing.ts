import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { IdExceptionFilter, MAX_PATH_PARAM_LENGTH } from '@app/core';

/**
 * The routing options both Fastify instances behind EdgeServer take (Nest's, see bootstrap, and
 * the direct routes', see DirectRoutes): one place, so a path routes and fails alike whichever
 * instance answers it. `errors` is a getter because bootstrap has the filter only once Nest made it.
 */
export function edgeRouting(errors: () => IdExceptionFilter) {
  return {
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // the router's own refusals (bad percent-encoding, an over-long segment) in the error contract
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => errors().send(error, request, reply),
  };
}
