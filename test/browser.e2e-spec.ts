import { join } from 'node:path';
import { RunningApp, startApp } from './support/app';
import { ARTIFACTS, Browser, browserChecksDidNotRun, haveChromium, launchBrowser } from './support/browser';
import { testConfig } from './support/config';

const ADMIN_TOKEN = 'browser-admin-token-0123';

if (!haveChromium()) {
  browserChecksDidNotRun('browser checks');
} else {
  describe('Swagger UI in headless Chromium', () => {
    let app: RunningApp;
    let browser: Browser;

    beforeAll(async () => {
      app = await startApp(testConfig({ ADMIN_TOKEN }));
      expect((await app.get('/ids/segment?count=3')).status).toBe(200); // a key in use
      browser = await launchBrowser();
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
      // Try it out fills key and count from the documented examples ("default", 10)
      const answer = JSON.parse(text);
      expect(answer).toMatchObject({ strategy: 'segment', key: 'default' });
      expect(answer.ids).toHaveLength(10);
      for (const id of answer.ids) expect(id).toMatch(/^[1-9][0-9]*$/);
      // the collapsed page says who may call each group: the admin routes locked, the id routes open (or a token)
      expect(await page.locator('#operations-tag-admin').innerText()).toContain('Access: admin token required');
      expect(await page.locator('#operations-tag-ids').innerText()).toContain('Access: open, or with API_TOKENS set a token');
      await page.screenshot({ path: join(ARTIFACTS, 'docs-try-it-out.png'), fullPage: true });
      await operation.locator('.opblock-summary').click(); // collapsed again: the page as a newcomer first sees it
      await page.screenshot({ path: join(ARTIFACTS, 'docs.png'), fullPage: true });
      await page.close();
    }, 60_000);
  });
}
