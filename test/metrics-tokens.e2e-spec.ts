import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries((m[3] ?? '').split(',').filter(Boolean).map((kv) => {
      const [k, v] = kv.split('=');
      return [k, v.replace(/^"|"$/g, '')];
    }));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp(testConfig({ SEGMENT_DYNAMIC_STEP: 'false' }));
  });
  afterAll(() => app.close());

  it('counts ids per strategy and key, errors per code, and reports buffers, space, steps and fetch latency', async () => {
    for (let i = 0; i < 5; i++) expect((await app.get('/ids/segment?count=10')).status).toBe(200);
    expect((await app.get('/ids/uuid?count=7')).status).toBe(200);
    expect((await app.get('/alloc')).status).toBe(200);
    expect((await app.get('/ids/segment?key=nope')).status).toBe(404);
    expect((await app.get('/ids/uuid?count=0')).status).toBe(400);
    expect((await app.get('/ids/uuid?count=0')).status).toBe(400);

    const res = await app.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = res.text;
    expect(metricValue(text, 'idalloc_ids_issued_total', { strategy: 'segment', key: 'default' })).toBe(50);
    expect(metricValue(text, 'idalloc_ids_issued_total', { strategy: 'uuid', key: '' })).toBe(7);
    expect(metricValue(text, 'idalloc_ids_issued_total', { strategy: 'partition', key: '' })).toBe(1);
    expect(metricValue(text, 'idalloc_errors_total', { code: 'UNKNOWN_KEY' })).toBe(1);
    expect(metricValue(text, 'idalloc_errors_total', { code: 'INVALID_COUNT' })).toBe(2);
    expect(metricValue(text, 'idalloc_segment_ids_left', { strategy: 'segment', key: 'default' })).toBeGreaterThanOrEqual(950);
    expect(metricValue(text, 'idalloc_segment_step', { key: 'default' })).toBe(1000);
    expect(metricValue(text, 'idalloc_id_space_used_ratio', { strategy: 'segment', key: 'default' })).toBeGreaterThan(0);
    expect(metricValue(text, 'idalloc_segment_fetch_seconds_count', { strategy: 'segment' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'idalloc_ready', { strategy: 'segment' })).toBe(1);
    expect(text).toContain('idalloc_segment_seconds_to_exhaustion');
    expect(metricValue(text, 'idalloc_snowflake_worker_ids_free')).toBe(1023); // 1,024 ids, one held here
    expect(Math.abs(metricValue(text, 'idalloc_snowflake_clock_offset_ms')!)).toBeLessThan(1000);
    expect(metricValue(text, 'idalloc_snowflake_reservation_margin_seconds')).toBeGreaterThan(0);
    expect(text).toContain('idalloc_process_resident_memory_bytes');
  });

  it('counts the id routes\' answers per route and status code, with a latency histogram per route', async () => {
    const before = (await app.get('/metrics')).text;
    const count = (text: string, route: string, code: string) => metricValue(text, 'idalloc_http_requests_total', { route, code }) ?? 0;
    for (let i = 0; i < 3; i++) expect((await app.get('/ids/snowflake')).status).toBe(200);
    expect((await app.get('/ids/nope')).status).toBe(404);
    expect((await app.get('/ids/snowflake', { method: 'HEAD' })).status).toBe(405);
    expect((await app.get('/api/segment/get/default')).status).toBe(200);
    const text = (await app.get('/metrics')).text;
    expect(count(text, '/ids/:strategy', '200') - count(before, '/ids/:strategy', '200')).toBe(3);
    expect(count(text, '/ids/:strategy', '404') - count(before, '/ids/:strategy', '404')).toBe(1);
    expect(count(text, '/ids/:strategy', '405') - count(before, '/ids/:strategy', '405')).toBe(1);
    expect(count(text, '/api/segment/get/:key', '200')).toBe(1);
    // nothing but the direct routes: /metrics itself is Nest's and not counted
    expect(text).not.toMatch(/idalloc_http_requests_total\{route="\/metrics"/);

    const route = '/ids/:strategy';
    const histogram = (suffix: string, labels: Record<string, string> = {}) =>
      metricValue(text, `idalloc_http_request_duration_seconds_${suffix}`, { route, ...labels });
    const answered = [...text.matchAll(/^idalloc_http_requests_total\{route="\/ids\/:strategy",code="\d+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(histogram('count')).toBe(answered);
    expect(histogram('bucket', { le: '+Inf' })).toBe(answered);
    expect(histogram('sum')).toBeGreaterThan(0);
    const buckets = [...text.matchAll(/^idalloc_http_request_duration_seconds_bucket\{route="\/ids\/:strategy",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    expect(buckets.length).toBeGreaterThan(10);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b)); // cumulative
  });
});

describe('API_TOKENS on the id routes', () => {
  let app: RunningApp;
  const all = 'token-for-every-key-0001';
  const ordersOnly = 'token-for-orders-only-02';
  beforeAll(async () => {
    app = await startApp(testConfig({ API_TOKENS: JSON.stringify([{ token: all }, { token: ordersOnly, keys: ['orders'] }]) }));
  });
  afterAll(() => app.close());
  const get = (path: string, token?: string) => app.get(path, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);

  it('401 UNAUTHORIZED without a valid token, on every id route', async () => {
    for (const path of ['/ids/uuid', '/ids/segment', '/alloc', '/api/segment/get/default']) {
      for (const token of [undefined, 'wrong-token-000000000000']) {
        const res = await get(path, token);
        expect(res.status).toBe(401);
        if (path !== '/alloc') expect(res.body.code).toBe('UNAUTHORIZED');
        else expect(res.body).toMatchObject({ Errno: -1, Id: 0 });
      }
    }
  });

  it('a token without key limits passes everywhere', async () => {
    expect((await get('/ids/uuid', all)).status).toBe(200);
    expect((await get('/ids/segment?key=default', all)).status).toBe(200);
    expect((await get('/alloc', all)).status).toBe(200);
  });

  it('403 FORBIDDEN for a key the token is not granted', async () => {
    const res = await get('/ids/segment?key=default', ordersOnly);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('FORBIDDEN');
    expect((await get('/ids/uuid?key=orders', ordersOnly)).status).toBe(200);
  });

  it('leaves health, docs and metrics open', async () => {
    for (const path of ['/health/live', '/health/ready', '/docs-json', '/metrics']) expect((await get(path)).status).toBe(200);
  });
});
