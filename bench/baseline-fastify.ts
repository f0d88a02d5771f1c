import Fastify from 'fastify';

/** The ceiling for this stack: bare Fastify answering the id route's JSON. */
const app = Fastify({ logger: false });
app.get('/ids/:strategy', async (_req, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8');
  return '{"strategy":"segment","key":"default","ids":["1"]}';
});
app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' }).catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
// a clean exit on SIGTERM, so `node --cpu-prof` writes its profile
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
