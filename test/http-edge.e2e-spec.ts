import { request as httpRequest } from 'node:http';
import { connect, Socket } from 'node:net';
import { ERROR_CODES, ServiceState } from '@app/core';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';

const ADMIN_TOKEN = 'edge-admin-token-0123456789';
const SECRET = 'edge-id-secret-0123456789abcdef';
const MAX = 2n ** 63n - 1n;

/** the error contract: status, code from the table, message; Retry-After exactly on 503s */
function expectContract(res: { status: number; headers: Headers; body: any }, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) });
  expect(ERROR_CODES).toContain(res.body.code);
  if (status === 503) expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  else expect(res.headers.get('retry-after')).toBeNull();
}

/** a raw request, for what fetch will not send (oversized headers) */
function raw(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the HTTP edge', () => {
  let app: RunningApp;
  const admin = (method: string, path: string, body?: unknown) =>
    app.get(path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN, ID_SECRET: SECRET, SEGMENT_DYNAMIC_STEP: 'false' }));
  });
  afterAll(() => app.close());

  describe('query parameters', () => {
    it.each([
      ['/ids/segment?Key=orders', ['Key']],
      ['/ids/uuid?cnt=5', ['cnt']],
      ['/ids/segment?key=default&count=2&x=1&y=2', ['x', 'y']],
      ['/ids/snowflake/123/decode?verbose=1', ['verbose']],
    ])('%s is 400 UNKNOWN_PARAMETER naming %j, and spends no id', async (path, names) => {
      const before = (await app.get('/ids/segment')).body.ids[0];
      const res = await app.get(path);
      expectContract(res, 400, 'UNKNOWN_PARAMETER');
      for (const n of names) expect(res.body.message).toContain(`"${n}"`);
      expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(names);
      expect(BigInt((await app.get('/ids/segment')).body.ids[0])).toBe(BigInt(before) + 1n);
    });

    it('the go-id-alloc and Leaf routes ignore unknown parameters, as those services do', async () => {
      expect((await app.get('/alloc?cnt=5&Key=x')).body).toMatchObject({ Errno: 0 });
      const leaf = await app.get('/api/segment/get/default?cnt=5');
      expect(leaf.status).toBe(200);
      expect(leaf.text).toMatch(/^\d+$/);
    });
  });

  describe('HEAD', () => {
    it.each(['/ids/segment', '/ids/snowflake', '/alloc', '/api/segment/get/default', '/api/snowflake/get/default', '/ids/snowflake/1/decode'])(
      'HEAD %s is 405 with Allow: GET and spends no id',
      async (path) => {
        const before = BigInt((await app.get('/ids/segment')).body.ids[0]);
        for (let i = 0; i < 3; i++) {
          const res = await app.get(path, { method: 'HEAD' });
          expect(res.status).toBe(405);
          expect(res.headers.get('allow')).toBe('GET');
          expect(res.text).toBe('');
        }
        expect(BigInt((await app.get('/ids/segment')).body.ids[0])).toBe(before + 1n);
      },
    );

    it('read-only routes still answer HEAD', async () => {
      expect((await app.get('/health/live', { method: 'HEAD' })).status).toBe(200);
    });
  });

  describe('128-character keys on every route', () => {
    const key = 'k'.repeat(120) + '.:_-AZ09';
    const tooLong = key + 'x';

    it('a 128-character key is created, served, listed, changed, skipped, revealed (public) on every route', async () => {
      expect(key).toHaveLength(128);
      expect((await admin('POST', '/admin/segments', { key, step: 10 })).status).toBe(201);
      const ids = await app.get(`/ids/segment?key=${key}&count=3`);
      expect(ids.status).toBe(200);
      expect(ids.body.key).toBe(key);
      const leaf = await app.get(`/api/segment/get/${key}`);
      expect(leaf.status).toBe(200);
      expect(BigInt(leaf.text)).toBe(BigInt(ids.body.ids[2]) + 1n);
      expect((await app.get(`/api/snowflake/get/${key}`)).status).toBe(200);
      expect((await admin('GET', '/admin/segments')).body.segments.map((s: { key: string }) => s.key)).toContain(key);
      expect((await admin('PATCH', `/admin/segments/${key}`, { description: 'long' })).status).toBe(200);
      const skip = await admin('POST', `/admin/segments/${key}/skip`, { to: 5000 });
      expect(skip.status).toBe(200);
      // past what this instance still holds (two segments of 10)
      expect(BigInt((await app.get(`/ids/segment?key=${key}&count=25`)).body.ids[24])).toBeGreaterThan(5000n);

      const publicKey = 'p'.repeat(128);
      expect((await admin('POST', '/admin/segments', { key: publicKey, public: true })).status).toBe(201);
      const publicId = (await app.get(`/ids/segment?key=${publicKey}`)).body.ids[0];
      const revealed = await admin('POST', `/admin/segments/${publicKey}/reveal`, { id: publicId });
      expect(revealed.status).toBe(200);
      expect(revealed.body.underlyingId).toBe('1');
    });

    it('129 characters is 400 INVALID_KEY on every route, never 414', async () => {
      expectContract(await app.get(`/ids/segment?key=${tooLong}`), 400, 'INVALID_KEY');
      expectContract(await app.get(`/api/segment/get/${tooLong}`), 400, 'INVALID_KEY');
      expectContract(await app.get(`/api/snowflake/get/${tooLong}`), 400, 'INVALID_KEY');
      expectContract(await admin('PATCH', `/admin/segments/${tooLong}`, { step: 5 }), 400, 'INVALID_KEY');
      expectContract(await admin('POST', `/admin/segments/${tooLong}/skip`, { by: 5 }), 400, 'INVALID_KEY');
      expectContract(await admin('POST', `/admin/segments/${tooLong}/reveal`, { id: '5' }), 400, 'INVALID_KEY');
    });
  });

  describe("Fastify's own answers are in the contract", () => {
    it('a URL that is not valid percent-encoding is 400 INVALID_REQUEST, not FST_ERR_BAD_URL', async () => {
      for (const path of ['/ids/segment%ZZ', '/api/segment/get/%E0%A4%A', '/admin/segments/%']) {
        expectContract(await app.get(path), 400, 'INVALID_REQUEST');
      }
    });

    it('a path segment longer than any valid parameter is 400 INVALID_REQUEST', async () => {
      expectContract(await app.get(`/api/segment/get/${'a'.repeat(600)}`), 400, 'INVALID_REQUEST');
      expectContract(await admin('PATCH', `/admin/segments/${'a'.repeat(600)}`, { step: 5 }), 400, 'INVALID_REQUEST');
    });

    it('headers too large are 431 INVALID_REQUEST in the error shape', async () => {
      const res = await raw(app.url, '/ids/uuid', { 'x-junk': 'j'.repeat(20_000) });
      expect(res.status).toBe(431);
      expect(res.body).toMatchObject({ statusCode: 431, code: 'INVALID_REQUEST' });
    });

    it('an unknown route and a wrong method are 404 NOT_FOUND', async () => {
      expectContract(await app.get('/nowhere'), 404, 'NOT_FOUND');
      // POST /ids/:strategy is a route (idempotent allocation, issue 30); PUT is not
      expectContract(await app.get('/ids/segment', { method: 'PUT' }), 404, 'NOT_FOUND');
    });
  });

  it('ID_SPACE_EXHAUSTED is 409 without Retry-After on /ids and on the Leaf route', async () => {
    expect((await admin('POST', '/admin/segments', { key: 'full', startId: (MAX - 5n).toString(), step: 5 })).status).toBe(201);
    expect((await app.get('/ids/segment?key=full&count=5')).status).toBe(200);
    expectContract(await app.get('/ids/segment?key=full'), 409, 'ID_SPACE_EXHAUSTED');
    const leaf = await app.get('/api/segment/get/full');
    expectContract(leaf, 409, 'ID_SPACE_EXHAUSTED');
  });

  it('the OpenAPI document still has every id route', async () => {
    const doc = (await app.get('/docs-json')).body;
    for (const path of ['/ids/{strategy}', '/ids/snowflake/{id}/decode', '/alloc', '/api/segment/get/{key}', '/api/snowflake/get/{key}']) {
      expect(doc.paths[path]?.get).toBeDefined();
    }
    const query = doc.paths['/ids/{strategy}'].get.parameters.filter((p: { in: string }) => p.in === 'query');
    expect(query.map((p: { name: string }) => p.name).sort()).toEqual(['count', 'format', 'key']);
    expect(doc.paths['/ids/{strategy}'].get.responses['200'].content['application/json'].schema.$ref).toMatch(/IdsResponseDto$/);
    expect(doc.components.schemas.IdsResponseDto).toBeDefined();
  });

  // last: turns this app's shutdown flag on
  it('once shutdown began, the id routes answer 503 SHUTTING_DOWN with Retry-After', async () => {
    app.app.get(ServiceState).shuttingDown = true;
    for (const path of ['/ids/uuid', '/api/snowflake/get/x']) expectContract(await app.get(path), 503, 'SHUTTING_DOWN');
    const alloc = await app.get('/alloc');
    expect(alloc.status).toBe(503);
    expect(alloc.headers.get('retry-after')).toBe('1');
    expect(alloc.body).toMatchObject({ Errno: -1, Id: 0 });
  });
});

describe('API_TOKENS and the snowflake decode', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp(testConfig({ API_TOKENS: JSON.stringify([{ token: 'token-for-orders-only', keys: ['orders'] }]) }));
  });
  afterAll(() => app.close());

  it('needs a token like every /ids/* route (any valid token: it names no key)', async () => {
    expectContract(await app.get('/ids/snowflake/123/decode'), 401, 'UNAUTHORIZED');
    expectContract(await app.get('/ids/snowflake/123/decode', { headers: { authorization: 'Bearer wrong' } }), 401, 'UNAUTHORIZED');
    const ok = await app.get('/ids/snowflake/123/decode', { headers: { authorization: 'Bearer token-for-orders-only' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ id: '123' });
  });
});

describe('connection limits (HTTP_WRITE_TIMEOUT_MS=300)', () => {
  let app: RunningApp;
  let port: number;
  beforeAll(async () => {
    app = await startApp(testConfig({ HTTP_WRITE_TIMEOUT_MS: '300' }));
    port = Number(new URL(app.url).port);
  });
  afterAll(() => app.close());

  const closed = (socket: Socket, withinMs: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  it('closes a connection whose client stops reading its answers, and keeps serving others', async () => {
    const server = app.app.getHttpServer();
    const open = () => new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.pause(); // reads nothing: ~78 KB answers fill the kernel's buffers, then Node's queue
    const ask = Buffer.from('GET /ids/uuid?count=2000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    socket.write(Buffer.concat(Array.from({ length: 400 }, () => ask)));
    // the server gives the connection up (300-375 ms after its answers stopped leaving; bound: 30 s)
    let connections = await open();
    for (let i = 0; i < 300 && connections > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      connections = await open();
    }
    expect(connections).toBe(0);
    // what the kernel already held still arrives, then the end: not the 400 answers asked for
    let answers = 0;
    let tail = '';
    socket.on('data', (d) => {
      const text = tail + d.toString('latin1');
      answers += text.split('HTTP/1.1 200').length - 1;
      tail = text.slice(-11); // shorter than the marker: none counted twice
    });
    socket.resume();
    expect(await closed(socket, 30_000)).toBe(true);
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBeLessThan(400);
    expect((await app.get('/ids/segment')).status).toBe(200);
  });

  it('leaves an idle kept-alive connection open past the write limit (keepAliveTimeout governs it)', async () => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    const answers: string[] = [];
    let buffered = '';
    socket.on('data', (d) => {
      buffered += d.toString('latin1');
      const end = buffered.indexOf('}');
      if (end >= 0) {
        answers.push(buffered.slice(0, end + 1));
        buffered = buffered.slice(end + 1);
      }
    });
    const ask = () => socket.write('GET /ids/segment HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const answered = async (n: number) => {
      for (let i = 0; i < 200 && answers.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      return answers.length;
    };
    socket.once('connect', ask);
    expect(await answered(1)).toBe(1);
    expect(await closed(socket, 1500)).toBe(false); // 5 sweeps of a 300 ms limit
    ask();
    expect(await answered(2)).toBe(2);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 200/);
    socket.destroy();
  });
});
