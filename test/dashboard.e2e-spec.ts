import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, Browser, browserChecksDidNotRun, haveChromium, launchBrowser } from './support/browser';
import { ServerProcess, sleep } from './support/process';

const ADMIN_TOKEN = 'dashboard-admin-token-0123';
const MAX_ID = 9223372036854775807n;
const en = (n: number | bigint) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
/** max_id's share of 2^63-1 in percent, four decimals, computed apart from the page's code */
function percentUsed(maxId: string): string {
  const tenThousandths = (BigInt(maxId) * 1_000_000n) / MAX_ID;
  if (tenThousandths === 0n) return BigInt(maxId) > 1n ? '< 0.0001 %' : '0 %';
  return `${en(tenThousandths / 10_000n)}.${String(tenThousandths % 10_000n).padStart(4, '0')} %`;
}

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

    it('shows per key rates, ids buffered, % of the id space used, steps, halted keys, errors by code, latency percentiles, snowflake, partitions and readiness as the API does', async () => {
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      await page.goto(`${server.url}/dashboard`);
      await page.locator('#ready', { hasText: 'ready' }).waitFor();
      // before the token nothing is known about halted keys: a neutral box, neither "none" in green nor red
      expect(await page.locator('#halted').getAttribute('class')).toBe('callout neutral');
      expect(await page.locator('#halted').innerText()).toMatch(/enter the admin token/);
      expect(await page.locator('#halted').evaluate((e) => (globalThis as any).getComputedStyle(e).backgroundColor)).toBe('rgb(238, 241, 244)');
      // and the tables that need it say so, rather than showing bare headers
      for (const [table, what] of [['keys', 'keys'], ['others', 'rates'], ['errors', 'errors'], ['latency', 'latency']]) {
        expect(await page.locator(`#${table} tbody`).innerText()).toBe(`enter the admin token above to see the ${what}`);
      }
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-before-token.png'), fullPage: true });
      await page.fill('#token', ADMIN_TOKEN);
      await page.click('#login button');
      const row = (key: string) => page.locator(`#keys tr[data-key="${key}"]`);
      const field = (key: string, name: string) => row(key).locator(`[data-field="${name}"]`).innerText();
      await row('orders').waitFor({ timeout: 10_000 });

      await eventually(async () => {
        const { segments } = (await api('/admin/segments')).body;
        for (const k of segments) {
          const b = k.buffer;
          expect(await field(k.key, 'spaceUsed')).toBe(percentUsed(k.maxId));
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
      // the key's id space as a share used, not as ids left or years to exhaustion
      const headers = await page.locator('#keys thead th').allInnerTexts();
      expect(headers).toContain('% of the id space used');
      expect(headers.filter((h) => /exhaustion|ids left in the key/.test(h))).toEqual([]);
      // a figure and its unit stay on one line ("< 0.0001" above a lone "%" before)
      expect(await row('orders').locator('[data-field="spaceUsed"]').evaluate((e) => (globalThis as any).getComputedStyle(e).whiteSpace)).toBe('nowrap');
      expect(await page.locator('#keys tbody [data-field="before-token"]').count()).toBe(0);
      // axes on the charts: the y axis up to the largest sample with its unit, the x axis over the window
      const chart = row('orders').locator('svg.spark');
      const yMax = Number(await chart.getAttribute('data-y-max'));
      expect(yMax).toBeGreaterThan(0);
      expect(await chart.locator('[data-axis="y-max"]').textContent()).toBe(`${en(yMax)} ids/s`);
      expect(await chart.locator('[data-axis="x-start"]').textContent()).toBe('-10 min');
      expect(await chart.locator('[data-axis="x-end"]').textContent()).toBe('now');
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
        // the partitions' share written as the keys' is: "0 %" for none, not "0.0000 %"
        const share = p.spaceUsed * 100;
        const written = share === 0 ? '0 %' : share < 0.0001 ? '< 0.0001 %' : `${share.toLocaleString('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 })} %`;
        expect(await page.locator('#partition-summary [data-field="spaceUsed"]').innerText()).toBe(written);
        expect(await page.locator('#partition-summary [data-row="spaceUsed"] th').innerText()).toBe('% of the id space used (2^53)');
        for (const [idx, part] of Object.entries<any>(p.partitions)) {
          expect(await page.locator(`#partitions tr[data-partition="${idx}"] [data-field="status"]`).innerText()).toBe(part.status);
        }
      });

      // errors per second by code and the id routes' latency percentiles, as /admin/rates has them
      await eventually(async () => {
        const rates = (await api('/admin/rates')).body;
        const unavailable = rates.errors.find((e: any) => e.code === 'SEGMENT_UNAVAILABLE');
        expect(unavailable?.perSecond.some((v: number) => v > 0)).toBe(true);
        for (const e of rates.errors) {
          expect(await page.locator(`#errors tr[data-code="${e.code}"] [data-field="rate"]`).innerText()).toBe(en(e.lastMinute));
        }
        const errorChart = page.locator('#errors tr[data-code="SEGMENT_UNAVAILABLE"] svg.spark');
        expect(Number(await errorChart.getAttribute('data-y-max'))).toBe(Math.max(...unavailable.perSecond));
        for (const [name, field] of [['p50', 'p50'], ['p99', 'p99'], ['p99.9', 'p999']]) {
          const series: (number | null)[] = rates.latency[field];
          const last = series.length ? series[series.length - 1] : null;
          const latencyRow = page.locator(`#latency tr[data-percentile="${name}"]`);
          expect(await latencyRow.locator('[data-field="last"]').innerText()).toBe(last === null ? 'no requests' : `${en(last)} ms`);
          expect(Number(await latencyRow.locator('svg.spark').getAttribute('data-y-max'))).toBe(Math.max(0, ...series.map((v) => v ?? 0)));
        }
        // the requests above were answered: some interval has a latency
        expect(rates.latency.p99.some((v: number | null) => v !== null && v > 0)).toBe(true);
      });
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

      // a wrong token says so
      await page.fill('#token', 'wrong-token');
      await page.click('#login button');
      await page.locator('#status', { hasText: 'UNAUTHORIZED' }).waitFor();
      await page.close();
      // opening the page added no error of its own to the errors it shows (a browser asks for
      // /favicon.ico unless the page names an icon): counted at once in /metrics
      const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/^idalloc_errors_total\{code="SEGMENT_UNAVAILABLE"\} \d+$/m);
      expect(metrics).not.toMatch(/^idalloc_errors_total\{code="NOT_FOUND"\}/m);
    }, 90_000);
  });
}
