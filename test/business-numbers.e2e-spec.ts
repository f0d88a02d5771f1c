import { request } from './support/app';
import { dialects, openDatabase, TestDatabase } from './support/dialects';
import { duplicates } from './support/load';
import { ServerProcess, sleep } from './support/process';

const ADMIN_TOKEN = 'business-numbers-admin-token';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
/** midnight of 2027-01-01 in Asia/Shanghai (UTC+8): a day, a month and a year end at once */
const MIDNIGHT = Date.parse('2026-12-31T16:00:00Z');

const FORMATS = {
  inv: { pattern: 'INV-{yyyy}{MM}{dd}-{seq:6}', reset: 'day', timeZone: 'Asia/Shanghai', checkDigit: 'luhn' },
  mon: { pattern: 'M{yyyy}{MM}-{seq:5}', reset: 'month', timeZone: 'Asia/Shanghai' },
  yr: { pattern: 'Y{yy}/{seq:7}', reset: 'year', timeZone: 'Asia/Shanghai', checkDigit: 'mod97' },
} as const;
type FormattedName = keyof typeof FORMATS;

async function createKey(url: string, body: Record<string, unknown>) {
  return request(`${url}/admin/segments`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
}

async function parse(url: string, key: string, id: string) {
  return request(`${url}/admin/segments/${key}/parse?id=${encodeURIComponent(id)}`, { headers: admin });
}

describe.each(dialects())('business numbers on %s, real processes', (dialect) => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  const start = (env: Record<string, string> = {}) =>
    ServerProcess.start({ ...db.env, ADMIN_TOKEN, LOG_LEVEL: 'error', SEGMENT_POLL_MS: '200', ...env }).then((s) => {
      servers.push(s);
      return s;
    });

  beforeAll(async () => {
    db = await openDatabase(dialect, 'bizno');
    await start();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    await db?.drop();
  });

  it('format on create and PATCH (null removes it), shown in the listing; bad formats are 400 naming the field; public keys refuse one', async () => {
    const a = servers[0];
    const created = await createKey(a.url, { key: 'fmt', step: 10, format: { pattern: 'F-{seq:4}' } });
    expect(created.status).toBe(201);
    expect(created.body.format).toEqual({ pattern: 'F-{seq:4}', reset: 'none', timeZone: 'UTC', checkDigit: null });
    const bad = await createKey(a.url, { key: 'fmt2', format: { pattern: 'F-{seq:4}{seq:2}', reset: 'day', timeZone: 'Nowhere/Land' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.details).toEqual(
      expect.arrayContaining([
        { field: 'format.timeZone', problem: expect.any(String) },
        { field: 'format.pattern', problem: expect.stringContaining('exactly one {seq:N}') },
      ]),
    );
    const withPublic = await createKey(a.url, { key: 'fmt3', public: true, format: { pattern: 'P{seq:6}' } });
    expect(withPublic.status).toBe(400);
    const patched = await request(`${a.url}/admin/segments/fmt`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ format: { pattern: 'G{yyyy}-{seq:4}', reset: 'year' } }),
    });
    expect(patched.status).toBe(200);
    expect(patched.body.format.pattern).toBe('G{yyyy}-{seq:4}');
    const listed = await request(`${a.url}/admin/segments`, { headers: admin });
    expect(listed.body.segments.find((s: { key: string }) => s.key === 'fmt').format.reset).toBe('year');
    const removed = await request(`${a.url}/admin/segments/fmt`, { method: 'PATCH', headers: admin, body: JSON.stringify({ format: null }) });
    expect(removed.status).toBe(200);
    expect(removed.body.format).toBeNull();
    const plain = await request(`${a.url}/ids/segment?key=fmt&count=2`);
    expect(plain.body.ids).toEqual([expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+$/)]);
  }, 60_000);

  it('fuzz over HTTP: 300 random formats on create and PATCH, 300 random ids to parse: 201/200 or 400 with a stable code, never a 500', async () => {
    const a = servers[0];
    let seed = 30;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pieces = ['{', '}', '{seq:', '6}', '{seq:19}', '{yyyy}', '{yy}', '{MM}', '{dd}', 'A', '-', ' ', '"', '\\', '%', '\u00e9', '{seq:3}', '{x}'];
    const statuses: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      // a third well-formed (a width 0..20 in literal text), the rest random pieces
      const pattern =
        random() < 0.33
          ? `F${pieces[Math.floor(random() * 11)].replace(/[{}]/g, '')}{seq:${Math.floor(random() * 21)}}`
          : Array.from({ length: Math.floor(random() * 8) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      const format = [
        { pattern, reset: ['none', 'day', 'month', 'year', 'hour'][Math.floor(random() * 5)], timeZone: ['UTC', 'Europe/Paris', 'Nope'][Math.floor(random() * 3)] },
        pattern,
        [pattern],
        { pattern, checkDigit: ['luhn', 'mod97', 'crc', 7][Math.floor(random() * 4)] },
      ][Math.floor(random() * 4)];
      const res = i % 2 === 0
        ? await createKey(a.url, { key: `fz${i}`, format })
        : await request(`${a.url}/admin/segments/default`, { method: 'PATCH', headers: admin, body: JSON.stringify({ format }) });
      statuses[`${res.status} ${res.body?.code ?? ''}`] = (statuses[`${res.status} ${res.body?.code ?? ''}`] ?? 0) + 1;
      expect([201, 200, 400]).toContain(res.status);
      if (res.status === 400) {
        expect(res.body.code).toBe('VALIDATION_FAILED');
        expect(res.body.details.length).toBeGreaterThan(0);
      }
    }
    expect(Object.keys(statuses).some((s) => s.startsWith('400'))).toBe(true);
    expect(Object.keys(statuses).some((s) => s.startsWith('20'))).toBe(true);
    // random ids against a formatted key's parse: 200 or 400 INVALID_ID
    expect((await createKey(a.url, { key: 'fzp', format: { pattern: 'P{yyyy}{MM}-{seq:4}', reset: 'month', checkDigit: 'mod97' } })).status).toBe(201);
    for (let i = 0; i < 300; i++) {
      const id = Array.from({ length: Math.floor(random() * 16) }, () => 'P0123456789-{}%é'[Math.floor(random() * 16)]).join('');
      const res = await parse(a.url, 'fzp', id || 'x');
      expect([200, 400]).toContain(res.status);
      if (res.status === 400) expect(['INVALID_ID']).toContain(res.body.code);
    }
    // the default key stays plain after the fuzz (a last PATCH removes any format it took)
    expect((await request(`${a.url}/admin/segments/default`, { method: 'PATCH', headers: admin, body: JSON.stringify({ format: null }) })).status).toBe(200);
  }, 120_000);

  it('{seq:2} issues 1..99, then 409 ID_SPACE_EXHAUSTED, a straddling batch all or nothing; numeric routes refuse a formatted key', async () => {
    const a = servers[0];
    expect((await createKey(a.url, { key: 'tk', step: 10, format: { pattern: 'TK{seq:2}' } })).status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 19; i++) {
      const res = await request(`${a.url}/ids/segment?key=tk&count=5`);
      expect(res.status).toBe(200);
      ids.push(...res.body.ids);
    }
    expect(ids).toEqual(Array.from({ length: 95 }, (_, i) => `TK${String(i + 1).padStart(2, '0')}`));
    const straddling = await request(`${a.url}/ids/segment?key=tk&count=9`);
    expect(straddling.status).toBe(409);
    expect(straddling.body.code).toBe('ID_SPACE_EXHAUSTED');
    expect(straddling.headers.get('retry-after')).toBeNull();
    const after = await request(`${a.url}/ids/segment?key=tk`);
    expect(after.status).toBe(409);
    const leaf = await request(`${a.url}/api/segment/get/tk`);
    expect(leaf.status).toBe(409);
    // the width metric: this period's {seq:2} is full
    const metrics = await request(`${a.url}/metrics`);
    expect(metrics.text).toMatch(/^idalloc_format_seq_used_ratio\{key="tk"\} 1$/m);

    expect((await createKey(a.url, { key: 'lf', format: { pattern: 'LF-{seq:8}', checkDigit: 'luhn' } })).status).toBe(201);
    const one = await request(`${a.url}/api/segment/get/lf`);
    expect(one.status).toBe(200);
    expect(one.text).toMatch(/^LF-00000001\d$/);
    expect((await parse(a.url, 'lf', one.text)).body).toEqual({ id: one.text, period: null, seq: '1' });
    const ranges = await request(`${a.url}/ids/segment?key=lf&count=3&format=ranges`);
    expect(ranges.status).toBe(400);
    expect(ranges.body.code).toBe('INVALID_FORMAT');
    const alloc = await request(`${a.url}/alloc?biz_tag=lf`);
    expect(alloc.status).toBeGreaterThanOrEqual(400);
    expect(alloc.body.errno).toBe(-1);
    expect(alloc.body.msg).toMatch(/business-number format/);
    const wrongCheck = await parse(a.url, 'lf', `${one.text.slice(0, -1)}${(Number(one.text.slice(-1)) + 1) % 10}`);
    expect(wrongCheck.status).toBe(400);
    expect(wrongCheck.body.code).toBe('INVALID_ID');
  }, 60_000);

  it("a period's own key is skipped by name (the runbook's step when a lost write halted it); a caller still cannot name one elsewhere", async () => {
    const a = servers[0];
    expect((await createKey(a.url, { key: 'pk', step: 10, format: { pattern: 'PK{yyyy}{MM}{dd}-{seq:6}', reset: 'day' } })).status).toBe(201);
    const first = await request(`${a.url}/ids/segment?key=pk`);
    expect(first.status).toBe(200);
    const period = (await parse(a.url, 'pk', first.body.ids[0])).body.period.replace(/-/g, '');
    const skipped = await request(`${a.url}/admin/segments/pk~${period}/skip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 5000 }),
    });
    expect([skipped.status, skipped.body.key]).toEqual([200, `pk~${period}`]);
    // the instance dropped what it held: the next number is above the target
    let seq = 0;
    for (let i = 0; i < 50 && seq <= 5000; i++) {
      const next = await request(`${a.url}/ids/segment?key=pk`);
      seq = Number((await parse(a.url, 'pk', next.body.ids[0])).body.seq);
      if (seq <= 5000) await sleep(100);
    }
    expect(seq).toBeGreaterThan(5000);
    // not a name a caller may give anywhere else
    const asId = await request(`${a.url}/ids/segment?key=pk~${period}`);
    expect([asId.status, asId.body.code]).toEqual([400, 'INVALID_KEY']);
    const bad = await request(`${a.url}/admin/segments/pk~2026x/skip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ by: 1 }),
    });
    expect([bad.status, bad.body.code]).toEqual([400, 'INVALID_KEY']);
  }, 60_000);

  it('day, month and year resets across midnight in Asia/Shanghai, two processes with clocks 8 s apart and the slow one restarted after the new period began: 0 duplicates, each period from 1, the lagging one adopts the new period and never goes back', async () => {
    const a = servers[0];
    for (const [key, format] of Object.entries(FORMATS)) {
      expect((await createKey(a.url, { key, step: 50, format })).status).toBe(201);
    }
    // B crosses midnight (by its clock) 12 s from now; C's clock is 8 s behind B's
    const crossAt = Date.now() + 12_000;
    const offsetB = MIDNIGHT - crossAt;
    const offsetC = offsetB - 8000;
    const [b, firstC] = await Promise.all([
      start({ FORMAT_CLOCK_OFFSET_MS: String(offsetB) }),
      start({ FORMAT_CLOCK_OFFSET_MS: String(offsetC) }),
    ]);
    const issued: Record<FormattedName, string[]> = { inv: [], mon: [], yr: [] };
    /** C's answers carrying a new-period number while C's own clock was still in the old year */
    let c = firstC;
    let adoptedEarly = 0;
    /** C, SIGKILLed once the new period began and restarted (its clock still in the old year): its answers' periods */
    let restarted: Promise<void> | undefined;
    const afterRestart: string[] = [];
    const newPeriod = { inv: '2027-01-01', mon: '2027-01', yr: '2027' } as const;
    const oldPeriod = { inv: '2026-12-31', mon: '2026-12', yr: '2026' } as const;
    const sawNew = new Set<string>();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(sawNew.size === 6 && Date.now() > crossAt + 4000)) {
      await Promise.all(
        [b, c].flatMap((server) =>
          (Object.keys(FORMATS) as FormattedName[]).map(async (key) => {
            const sentAt = Date.now();
            const res = await request(`${server.url}/ids/segment?key=${key}&count=7`);
            if (res.status !== 200) console.log(res.text, server.output.slice(-3000));
            expect(res.status).toBe(200);
            expect(res.body.ids).toHaveLength(7);
            issued[key].push(...res.body.ids);
            const parsedFirst = (await parse(a.url, key, res.body.ids[0])).body;
            const parsedLast = (await parse(a.url, key, res.body.ids[6])).body;
            if (restarted !== undefined && server !== b) afterRestart.push(parsedFirst.period);
            if (parsedLast.period === newPeriod[key]) {
              sawNew.add(`${server === b ? "B" : "C"}:${key}`);
              if (server === c && sentAt + offsetC < MIDNIGHT - 500) adoptedEarly++;
            }
          }),
        ),
      );
      if (restarted === undefined && sawNew.size === 6 && Date.now() + offsetC < MIDNIGHT - 6000) {
        // every new-period number so far came before C's own midnight; C restarts with its slow clock
        const old = c;
        restarted = old.kill('SIGKILL').then(async () => {
          c = await start({ FORMAT_CLOCK_OFFSET_MS: String(offsetC) });
        });
        await restarted;
        expect(Date.now() + offsetC).toBeLessThan(MIDNIGHT);
      }
      await sleep(50);
    }
    expect(sawNew.size).toBe(6);
    expect(restarted).toBeDefined();
    // the restarted C, its clock still in the old year, issued no old-period number
    expect(afterRestart.length).toBeGreaterThan(0);
    expect(afterRestart.filter((p) => !Object.values(newPeriod).includes(p as never))).toEqual([]);
    const summary: Record<string, unknown> = {};
    for (const key of Object.keys(FORMATS) as FormattedName[]) {
      const ids = issued[key];
      expect(duplicates(ids)).toEqual([]);
      const perPeriod = new Map<string, { seqs: number[]; ids: string[] }>();
      for (const id of ids) {
        const parsed = await parse(a.url, key, id);
        expect(parsed.status).toBe(200);
        const entry = perPeriod.get(parsed.body.period) ?? { seqs: [], ids: [] };
        entry.seqs.push(Number(parsed.body.seq));
        entry.ids.push(id);
        perPeriod.set(parsed.body.period, entry);
      }
      expect([...perPeriod.keys()].sort()).toEqual([oldPeriod[key], newPeriod[key]]);
      // each period's sequence starts at 1, and no sequence repeats within a period
      for (const { seqs } of perPeriod.values()) {
        expect(Math.min(...seqs)).toBe(1);
        expect(new Set(seqs).size).toBe(seqs.length);
      }
      summary[key] = Object.fromEntries(
        [...perPeriod].map(([p, { seqs, ids: list }]) => [p, { count: seqs.length, first: list[seqs.indexOf(Math.min(...seqs))], highest: list[seqs.indexOf(Math.max(...seqs))] }]),
      );
    }
    // the lagging instance issued new-period numbers before its own clock reached midnight
    expect(adoptedEarly).toBeGreaterThan(0);
    // period keys stay out of the listing
    const listed = await request(`${a.url}/admin/segments`, { headers: admin });
    expect(listed.body.segments.map((s: { key: string }) => s.key).filter((k: string) => k.includes('~'))).toEqual([]);
    const byRate = await request(`${b.url}/admin/segments?sort=rate&limit=1000`, { headers: admin });
    expect(byRate.status).toBe(200);
    expect(byRate.body.segments.map((s: { key: string }) => s.key).sort()).toEqual(['inv', 'mon', 'yr']);
    const periodRows = await db.query("SELECT biz_tag FROM leaf_alloc WHERE biz_tag LIKE 'inv~%' ORDER BY biz_tag");
    expect(periodRows.map((r) => String(r.biz_tag))).toEqual(['inv~20261231', 'inv~20270101']);
    // eslint-disable-next-line no-console
    console.log(`${dialect} midnight: ${JSON.stringify(summary)}; C adopted early in ${adoptedEarly} answers; ${afterRestart.length} answers after C's restart, all new-period`);
  }, 120_000);
});
