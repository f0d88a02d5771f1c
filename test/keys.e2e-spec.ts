import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';

/**
 * Issue 27 at a small scale (SQLite): /metrics keeps per-key series for the busiest keys only,
 * /admin/segments pages (by key, by rate, by prefix), and an idle poll reads the change row
 * alone. The same at 1,000 to 100,000 keys on MariaDB is the bench's `keys` section.
 */
const ADMIN_TOKEN = 'keys-admin-token-0123456';
const KEYS = 120;
const TOP = 5;

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}
function value(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('many keys', () => {
  let app: RunningApp;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const admin = (path: string, body?: unknown) =>
    app.get(path, body === undefined ? { headers: auth } : { method: 'POST', headers: auth, body: JSON.stringify(body) });

  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN, METRICS_TOP_KEYS: String(TOP), SEGMENT_POLL_MS: '100' }));
    for (let i = 0; i < KEYS; i++) expect((await admin('/admin/segments', { key: `k${String(i).padStart(3, '0')}`, step: 10 })).status).toBe(201);
    for (let i = 0; i < KEYS; i++) expect((await app.get(`/ids/segment?key=k${String(i).padStart(3, '0')}`)).status).toBe(200);
  }, 60_000);
  afterAll(() => app.close());

  it('/metrics lists the busiest keys (the setting) and counts every key in the totals', async () => {
    const text = (await app.get('/metrics')).text;
    const idsLeft = series(text, 'idalloc_segment_ids_left').filter((l) => l.includes('strategy="segment"'));
    expect(idsLeft.length).toBe(TOP);
    expect(series(text, 'idalloc_ids_issued_total').filter((l) => l.includes('strategy="segment"')).length).toBe(TOP);
    expect(series(text, 'idalloc_segment_step').length).toBe(TOP);
    expect(value(text, 'idalloc_ids_issued_all_total', '{strategy="segment"}')).toBe(KEYS);
    expect(value(text, 'idalloc_segment_keys_in_use')).toBe(KEYS);
    const all = (await admin('/admin/segments')).body.segments as { buffer: { idsLeft: number } | null }[];
    expect(value(text, 'idalloc_segment_ids_left_all')).toBe(all.reduce((sum, s) => sum + (s.buffer?.idsLeft ?? 0), 0));
  });

  it('GET /admin/segments pages by key: every key once, in order, with a cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await admin(`/admin/segments?limit=50${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(res.status).toBe(200);
      expect(res.body.segments.length).toBeLessThanOrEqual(50);
      seen.push(...res.body.segments.map((s: { key: string }) => s.key));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor !== null);
    const all = (await admin('/admin/segments')).body.segments.map((s: { key: string }) => s.key);
    expect(all.length).toBe(KEYS + 1); // and `default`
    expect(seen).toEqual(all);
    expect(pages).toBe(Math.ceil((KEYS + 1) / 50));
  });

  it('sorts by this instance’s rate (busiest first), narrows by a prefix, refuses what it does not take', async () => {
    for (let i = 0; i < 30; i++) expect((await app.get('/ids/segment?key=k042&count=5')).status).toBe(200);
    const byRate = await admin('/admin/segments?sort=rate&limit=10');
    expect(byRate.body.segments.length).toBe(10);
    expect(byRate.body.nextCursor).toBe('10');
    expect(byRate.body.segments.every((s: { buffer: unknown }) => s.buffer !== null)).toBe(true);
    const next = await admin('/admin/segments?sort=rate&limit=10&cursor=10');
    const keys = [...byRate.body.segments, ...next.body.segments].map((s: { key: string }) => s.key);
    expect(new Set(keys).size).toBe(20);
    const prefixed = (await admin('/admin/segments?q=k11&limit=50')).body.segments.map((s: { key: string }) => s.key);
    expect(prefixed).toEqual(Array.from({ length: 10 }, (_, i) => `k11${i}`));
    expect((await admin('/admin/segments?limit=0')).body.code).toBe('VALIDATION_FAILED');
    expect((await admin('/admin/segments?sort=size')).body.code).toBe('VALIDATION_FAILED');
    expect((await admin('/admin/segments?page=2')).body.code).toBe('VALIDATION_FAILED');
  });

  it('an idle poll reads one row: the key reads stop while nothing changes', async () => {
    const read = async () => {
      const text = (await app.get('/metrics')).text;
      return { rows: value(text, 'idalloc_segment_poll_rows_total'), keyReads: value(text, 'idalloc_segment_poll_key_reads_total') };
    };
    const polls = async (n: number) => {
      const from = await read();
      let to = from;
      while (to.rows < from.rows + n) {
        await new Promise((r) => setTimeout(r, 50));
        to = await read();
      }
      return { from, to };
    };
    // let the writes above (fetches, preloads) settle: a stretch of three polls with no key read
    for (let i = 0; i < 20; i++) {
      const { from, to } = await polls(3);
      if (to.keyReads === from.keyReads) break;
    }
    const { from: start, to: end } = await polls(5);
    expect(end.keyReads).toBe(start.keyReads);
    expect(end.rows - start.rows).toBeGreaterThanOrEqual(5);
  }, 30_000);
});
