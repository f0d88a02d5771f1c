import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, Browser, browserChecksDidNotRun, haveChromium, launchBrowser } from './support/browser';
import { ServerProcess, sleep } from './support/process';

const ADMIN_TOKEN = 'dashboard-admin-token-0123';
const MAX_ID = 9223372036854775807n;
const en = (n: number | bigint) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** retry an assertion while the page catches up (it refreshes every 2 s) */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(500);
    }
  }
}

if (!haveChromium()) {
  browserChecksDidNotRun('dashboard checks');
} else {
  describe('/dashboard in headless Chromium, against /admin/segments and readiness', () => {
    let dir: string;
    let server: ServerProcess;
    let browser: Browser;
    const api = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(server.url + path, {
        ...init,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      });
      return { status: res.status, body: (await res.json()) as any };
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'idalloc-dashboard-'));
      const sqlite = join(dir, 'ids.sqlite');
      server = await ServerProcess.start({ SQLITE_PATH: sqlite, ADMIN_TOKEN });
      expect((await api('/admin/segments', { method: 'POST', body: JSON.stringify({ key: 'orders', step: 100 }) })).status).toBe(201);
      expect((await api('/admin/segments', { method: 'POST', body: JSON.stringify({ key: 'rolled', step: 10 }) })).status).toBe(201);
      for (let i = 0; i < 3; i++) expect((await api('/ids/segment?key=orders&count=100')).status).toBe(200);
      expect((await api('/ids/uuid?count=50')).status).toBe(200);
      expect((await api('/ids/snowflake?count=20')).status).toBe(200);
      expect((await api('/ids/segment?key=rolled&count=5')).status).toBe(200);
      // a restore from a lagging backup: max_id back below what the instance fetched
      const db = new Database(sqlite, { timeout: 5000 });
      db.prepare("UPDATE leaf_alloc SET max_id = 1 WHERE biz_tag = 'rolled'").run();
      db.close();
      let refused = 0;
      for (let i = 0; i < 40 && refused === 0; i++) if ((await api('/ids/segment?key=rolled&count=3')).status !== 200) refused++;
      expect(refused).toBe(1);
      // the history behind the charts: one sample every 5 s
      await eventually(async () => {
        const rates = await api('/admin/rates');
        const orders = rates.body.series.find((s: any) => s.strategy === 'segment' && s.key === 'orders');
        expect(orders?.lastMinute).toBeGreaterThan(0);
      }, 30_000);
      browser = await launchBrowser();
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await server?.kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('shows per key rates, ids left, exhaustion, steps, halted keys, snowflake, partitions and readiness as the API does', async () => {
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      await page.goto(`${server.url}/dashboard`);
      await page.locator('#ready', { hasText: 'ready' }).waitFor();
      await page.fill('#token', ADMIN_TOKEN);
      await page.click('#login button');
      const row = (key: string) => page.locator(`#keys tr[data-key="${key}"]`);
      const field = (key: string, name: string) => row(key).locator(`[data-field="${name}"]`).innerText();
      await row('orders').waitFor({ timeout: 10_000 });

      await eventually(async () => {
        const { segments } = (await api('/admin/segments')).body;
        for (const k of segments) {
          const b = k.buffer;
          expect(await field(k.key, 'keySpaceLeft')).toBe(en(MAX_ID - BigInt(k.maxId)));
          expect(await field(k.key, 'step')).toBe(`${k.step} / ${b ? b.stepInUse : '-'}`);
          expect(await field(k.key, 'idsLeft')).toBe(b ? en(b.idsLeft) : '-');
          expect(await field(k.key, 'range')).toBe(b?.current ? `[${b.current.start}, ${b.current.end})` : '-');
          expect(await field(k.key, 'status')).toBe(!b ? 'not in use here' : b.reason ? `halted: ${b.reason}` : 'up');
        }
        const rolled = segments.find((k: any) => k.key === 'rolled');
        expect(rolled.buffer.reason).toMatch(/rolled back/);
        const target = rolled.requiredSkipTarget ? ` (skip to at least ${rolled.requiredSkipTarget})` : '';
        expect(await page.locator('#halted [data-field="halted"]').allInnerTexts()).toEqual([`rolled: ${rolled.buffer.reason}${target}`]);
        expect(await row('rolled').getAttribute('class')).toBe('halted');
      });

      // ids per second from the server's history: a rate, a chart, and the times it implies
      expect(Number((await field('orders', 'rate')).replace(/,/g, ''))).toBeGreaterThan(0);
      expect(Number(await row('orders').locator('svg.spark').getAttribute('data-points'))).toBeGreaterThan(0);
      expect(await field('orders', 'exhaustion')).toMatch(/years$/);
      expect(await field('orders', 'bufferLasts')).toMatch(/^[0-9.,]+ (years|days|h|min|s)$|^< 1 s$/);
      const uuid = page.locator('#others tr[data-strategy="uuid"] [data-field="rate"]');
      expect(Number((await uuid.innerText()).replace(/,/g, ''))).toBeGreaterThan(0);

      // readiness per strategy, the snowflake lease and layout, the partitions
      await eventually(async () => {
        const ready = await fetch(`${server.url}/health/ready`).then((r) => r.json() as Promise<any>);
        const tiles = await page.locator('#strategies .tile').evaluateAll((els) =>
          els.map((e) => [e.getAttribute('data-strategy'), (e.querySelector('[data-field="status"]') as unknown as { innerText: string }).innerText]),
        );
        expect(Object.fromEntries(tiles)).toEqual(Object.fromEntries(Object.entries<any>(ready.details).map(([name, d]) => [name, d.status])));
        const s = ready.details.snowflake;
        const snow = (name: string) => page.locator(`#snowflake [data-field="${name}"]`).innerText();
        expect(await snow('workerId')).toBe(`${s.workerId} (${s.workerIdMode})`);
        expect(await snow('lease')).toBe('held, fresh');
        expect(await snow('endOfLife')).toBe(`${s.lastValidDate.slice(0, 10)} (${s.yearsLeft} years left)`);
        expect(await snow('clockOffset')).toMatch(/^-?[0-9,.]+ ms$/);
        expect(await snow('layout')).toBe(`${s.layout} bits from ${s.epoch}`);
        const p = ready.details.partition;
        expect(await page.locator('#partition-summary [data-field="total"]').innerText()).toBe(String(p.total));
        for (const [idx, part] of Object.entries<any>(p.partitions)) {
          expect(await page.locator(`#partitions tr[data-partition="${idx}"] [data-field="status"]`).innerText()).toBe(part.status);
        }
      });
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

      // a wrong token says so
      await page.fill('#token', 'wrong-token');
      await page.click('#login button');
      await page.locator('#status', { hasText: 'UNAUTHORIZED' }).waitFor();
      await page.close();
    }, 90_000);
  });
}
