import cluster from 'node:cluster';
import Fastify from 'fastify';

/**
 * The ceiling for this stack: bare Fastify answering the id routes' JSON (`/ids/:strategy` and
 * go-id-alloc's `/alloc`), with WORKERS=N processes on one port like the service.
 */
const workers = Number(process.env.WORKERS ?? 1);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    cluster.on('exit', () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0));
  });
} else {
  const app = Fastify({ logger: false });
  app.get('/ids/:strategy', async (_req, reply) => {
    reply.header('content-type', 'application/json; charset=utf-8');
    return '{"strategy":"segment","key":"default","ids":["1"]}';
  });
  app.get('/alloc', async (_req, reply) => {
    reply.header('content-type', 'application/json; charset=utf-8');
    return '{"Errno":0,"Msg":"","Id":1}';
  });
  app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' }).catch((e) => {
    process.stderr.write(String(e) + '\n');
    process.exit(1);
  });
  // a clean exit on SIGTERM, so `node --cpu-prof` writes its profile
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
