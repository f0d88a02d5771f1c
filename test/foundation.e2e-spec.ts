import { IdError } from '@app/core';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { fakeGenerator, FakeStrategyModule } from './support/fake-strategy';

const ADMIN_TOKEN = 'test-admin-token-0123456789';

describe('foundation over HTTP (embedded SQLite)', () => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN }), [FakeStrategyModule]);
  });
  afterAll(() => app.close());
  afterEach(() => {
    fakeGenerator.throwNext = undefined;
    fakeGenerator.state = { ready: true, detail: {} };
  });

  describe('GET /ids/:strategy', () => {
    it('answers uuid and uuidv7 in the documented shape', async () => {
      const v4 = await app.get('/ids/uuid');
      expect(v4.status).toBe(200);
      expect(v4.body).toEqual({ strategy: 'uuid', key: 'default', ids: [expect.stringMatching(/^[0-9a-f-]{36}$/)] });
      const v7 = await app.get('/ids/uuidv7?key=orders&count=5');
      expect(v7.status).toBe(200);
      expect(v7.body.key).toBe('orders');
      expect(v7.body.ids).toHaveLength(5);
      expect([...v7.body.ids].sort()).toEqual(v7.body.ids);
    });

    it('serves count up to MAX_COUNT in one batch, all distinct', async () => {
      const res = await app.get('/ids/uuid?count=10000');
      expect(res.status).toBe(200);
      expect(new Set(res.body.ids).size).toBe(10000);
    });

    it('answers a strategy that must wait (a Promise) the same way', async () => {
      const res = await app.get('/ids/fake?count=3');
      expect(res.status).toBe(200);
      expect(res.body.ids).toHaveLength(3);
    });

    it.each([
      ['count=0', 'INVALID_COUNT'],
      ['count=10001', 'INVALID_COUNT'],
      ['count=abc', 'INVALID_COUNT'],
      ['count=1.5', 'INVALID_COUNT'],
      ['count=01', 'INVALID_COUNT'],
      ['count=1e3', 'INVALID_COUNT'],
      ['count=', 'INVALID_COUNT'],
      ['count=-1', 'INVALID_COUNT'],
      ['count=%201', 'INVALID_COUNT'],
      ['count=99999999999999999999', 'INVALID_COUNT'],
      ['count=1&count=2', 'INVALID_COUNT'],
      ['key=', 'INVALID_KEY'],
      [`key=${'k'.repeat(129)}`, 'INVALID_KEY'],
      ['key=a%20b', 'INVALID_KEY'],
      ['key=a/b', 'INVALID_KEY'],
      ['key=%C3%A9', 'INVALID_KEY'],
      ['key=a&key=b', 'INVALID_KEY'],
    ])('?%s is 400 %s', async (query, code) => {
      const res = await app.get(`/ids/uuid?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', code, message: expect.any(String) });
    });

    it('accepts the longest key and every allowed character', async () => {
      const key = 'A-z_0.9:'.repeat(16);
      const res = await app.get(`/ids/uuid?key=${key}`);
      expect(res.status).toBe(200);
      expect(res.body.key).toBe(key);
    });

    it('is 404 UNKNOWN_STRATEGY listing the strategies', async () => {
      const res = await app.get('/ids/nope');
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('UNKNOWN_STRATEGY');
      expect(res.body.message).toContain('uuid, uuidv7');
    });

    it('passes a strategy error through with its code and Retry-After on 503', async () => {
      fakeGenerator.throwNext = new IdError('SEGMENT_UNAVAILABLE', 'no segment', { retryAfter: 2 });
      const res = await app.get('/ids/fake');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'SEGMENT_UNAVAILABLE', message: 'no segment' });
    });

    it('turns an unexpected error into 500 INTERNAL without its details', async () => {
      fakeGenerator.throwNext = new Error('secret detail: password=hunter2');
      const res = await app.get('/ids/fake');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('INTERNAL');
      expect(res.text).not.toContain('hunter2');
      expect(res.text).not.toContain('at ');
    });
  });

  it('redirects GET / to the Swagger page', async () => {
    const res = await app.get('/', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/docs');
  });

  it('answers an unknown route 404 NOT_FOUND', async () => {
    const res = await app.get('/nothing/here');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });

  describe('admin guard', () => {
    it('401 without a token or with a wrong one', async () => {
      for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: ADMIN_TOKEN }] as Record<string, string>[]) {
        const res = await app.get('/admin/info', { headers });
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('UNAUTHORIZED');
      }
    });

    it('passes with the token and redacts secrets', async () => {
      const res = await app.get('/admin/info', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.body.strategies).toEqual(expect.arrayContaining(['uuid', 'uuidv7', 'fake']));
      expect(res.body.settings.ADMIN_TOKEN).toBe('(set)');
      expect(res.text).not.toContain(ADMIN_TOKEN);
    });
  });

  describe('health', () => {
    it('live and ready are 200 when all is well', async () => {
      const live = await app.get('/health/live');
      expect(live.status).toBe(200);
      expect(live.body.status).toBe('ok');
      const ready = await app.get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.info.uuid.status).toBe('up');
    });

    it('a local failure turns ready 503 in Terminus shape, live stays 200', async () => {
      fakeGenerator.state = { ready: false, detail: { reason: 'no lease' } };
      const ready = await app.get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe('error');
      expect(ready.body.error.fake).toEqual({ status: 'down', reason: 'no lease' });
      expect((await app.get('/health/live')).status).toBe(200);
    });

    it('a shared trouble shows as a down part under a 200', async () => {
      fakeGenerator.state = { ready: true, detail: { database: { status: 'down', message: 'unreachable' } } };
      const ready = await app.get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.info.fake).toEqual({ status: 'up', database: { status: 'down', message: 'unreachable' } });
    });
  });

  it('documents /ids/{strategy} in the OpenAPI document, with its parameters and errors', async () => {
    const res = await app.get('/docs-json');
    expect(res.status).toBe(200);
    const op = res.body.paths['/ids/{strategy}'].get;
    expect(op.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['count', 'format', 'key', 'strategy']);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '404', '503']));
    const docs = await app.get('/docs');
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger');
  });
});

describe('admin routes with no ADMIN_TOKEN', () => {
  it('answer 403 ADMIN_DISABLED saying how to enable them', async () => {
    const app = await startApp(testConfig());
    try {
      const res = await app.get('/admin/info', { headers: { authorization: 'Bearer anything-at-all-here' } });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('ADMIN_DISABLED');
      expect(res.body.message).toContain('ADMIN_TOKEN');
    } finally {
      await app.close();
    }
  });
});
