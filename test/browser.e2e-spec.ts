import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, 'artifacts');
const ADMIN_TOKEN = 'browser-admin-token-0123';
// flags for a closed network: no background connections, no first-run, no sandbox as root
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!existsSync(CHROMIUM)) {
  it(`browser checks did not run: no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)`, () => {
    expect(process.env.CI).toBeFalsy(); // on CI a missing browser fails the run
  });
} else {
  describe('Swagger UI and the dashboard in headless Chromium', () => {
    let app: RunningApp;
    let browser: Awaited<ReturnType<typeof chromium.launch>>;

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      app = await startApp(testConfig({ ADMIN_TOKEN }));
      expect((await app.get('/ids/segment?count=3')).status).toBe(200); // a key in use
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      await app?.close();
    });

    it('/docs: expand GET /ids/{strategy}, Try it out, Execute, and see an id', async () => {
      const page = await browser.newPage();
      await page.goto(`${app.url}/docs`);
      const operation = page.locator('#operations-ids-issueIds');
      await operation.locator('.opblock-summary').click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      await operation.locator('tr[data-param-name="strategy"] select').selectOption('segment');
      await operation.getByRole('button', { name: 'Execute' }).click();
      const body = operation.locator('.live-responses-table .response-col_description pre').first();
      await body.waitFor({ timeout: 10_000 });
      const text = await body.innerText();
      expect(JSON.parse(text)).toMatchObject({ strategy: 'segment', ids: [expect.stringMatching(/^[1-9][0-9]*$/)] });
      await page.screenshot({ path: join(ARTIFACTS, 'docs-try-it-out.png'), fullPage: true });
      await page.close();
    }, 60_000);

    it('/dashboard: asks for the token, then shows keys, ranges and readiness', async () => {
      const page = await browser.newPage();
      await page.goto(`${app.url}/dashboard`);
      await page.locator('#ready').filter({ hasText: 'ready' }).waitFor();
      await page.fill('#token', ADMIN_TOKEN);
      await page.click('#login button');
      const row = page.locator('#keys tbody tr', { hasText: 'default' });
      await row.waitFor({ timeout: 10_000 });
      const cells = await row.locator('td').allInnerTexts();
      expect(cells[0]).toBe('default');
      expect(cells[3]).toMatch(/^\[1, 1001\)$/);
      expect(cells[7]).toBe('up');
      expect(await page.locator('#snowflake').innerText()).toMatch(/layout end of life/);
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      await page.fill('#token', 'wrong-token');
      await page.click('#login button');
      await page.locator('#status', { hasText: 'UNAUTHORIZED' }).waitFor();
      await page.close();
    }, 60_000);
  });
}
