import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ServerProcess } from './support/process';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const PROMTOOL = process.env.PROMTOOL ?? join(ROOT, '.tools/prometheus/usr/bin/promtool');
const RULES = join(ROOT, 'deploy/prometheus/alerts.yml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/id-allocator.json');
const ADMIN_TOKEN = 'alerts-admin-token-0123';

interface Rule {
  /** an alert, or a recording rule (`record`) */
  alert?: string;
  record?: string;
  expr: string;
}
interface RuleTest {
  input_series: { series: string }[];
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

const rules: Rule[] = parse(readFileSync(RULES, 'utf8')).groups.flatMap((g: { rules: Rule[] }) => g.rules);
const ruleTests: RuleTest[] = parse(readFileSync(RULE_TESTS, 'utf8')).tests;
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));

function dashboardQueries(): string[] {
  const panels = dashboard.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);
  return [
    ...panels.flatMap((p: any) => (p.targets ?? []).map((t: { expr: string }) => t.expr)),
    ...dashboard.templating.list.map((v: any) => v.definition ?? '').filter(Boolean),
  ];
}

/** metric names a PromQL text uses (ours all start idalloc_); histogram series map to their family; recorded series (level:metric:operations) are not the service's */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])idalloc_[a-z0-9_]+(?![\w:])/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));
}

/** recorded series a PromQL text uses */
function recordedNames(expr: string): string[] {
  return [...expr.matchAll(/\b[a-z_]+:idalloc_[a-z0-9_]+:[a-z0-9_]+/g)].map(([name]) => name);
}

describe('Prometheus alert rules and the Grafana dashboard (deploy/)', () => {
  it('every alert has synthetic series that fire it in alerts.test.yml', () => {
    const alerts = rules.filter((r) => r.alert !== undefined);
    expect(alerts.length).toBeGreaterThanOrEqual(17);
    const fired = new Set(ruleTests.flatMap((t) => t.alert_rule_test.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname)));
    expect(alerts.map((r) => r.alert).filter((name) => !fired.has(name!))).toEqual([]);
    expect([...fired].filter((name) => !rules.some((r) => r.alert === name))).toEqual([]);
  });

  it('the availability alerts burn against recorded error ratios that the rules define', () => {
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const burn = rules.filter((r) => /^IdAllocErrorBudgetBurn/.test(r.alert ?? ''));
    expect(burn.map((r) => r.alert).sort()).toEqual(['IdAllocErrorBudgetBurnFast', 'IdAllocErrorBudgetBurnSlow']);
    const used = [...rules.map((r) => r.expr), ...dashboardQueries()].flatMap(recordedNames);
    expect(used.length).toBeGreaterThanOrEqual(8);
    expect(used.filter((name) => !recorded.has(name))).toEqual([]);
  });

  it('the dashboard has a query on every panel, and covers what the issue lists', () => {
    const panels = dashboard.panels.filter((p: any) => p.type !== 'row');
    for (const p of panels) expect([p.title, p.targets?.length > 0]).toEqual([p.title, true]);
    const used = new Set(dashboardQueries().flatMap(metricNames));
    for (const name of [
      'idalloc_ids_issued_total',
      'idalloc_errors_total',
      'idalloc_http_requests_total',
      'idalloc_http_request_duration_seconds',
      'idalloc_segment_seconds_to_exhaustion',
      'idalloc_id_space_used_ratio',
      'idalloc_segment_key_down',
      'idalloc_snowflake_lease_age_seconds',
      'idalloc_snowflake_reservation_margin_seconds',
      'idalloc_snowflake_clock_behind_ms',
      'idalloc_ready',
    ]) {
      expect([name, used.has(name)]).toEqual([name, true]);
    }
  });

  describe('on a live /metrics', () => {
    let server: ServerProcess;
    let dir: string;
    let families: Set<string>;
    let samples: string[];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'idalloc-alerts-'));
      server = await ServerProcess.start({ SQLITE_PATH: join(dir, 'ids.sqlite'), ADMIN_TOKEN });
      // traffic so that per-key and per-code series exist: ids from a key, an error, a snowflake id
      expect((await fetch(`${server.url}/ids/segment?count=5`)).status).toBe(200);
      expect((await fetch(`${server.url}/ids/snowflake`)).status).toBe(200);
      expect((await fetch(`${server.url}/ids/segment?key=nope`)).status).toBe(404);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map(([, name]) => name));
      samples = text.split('\n').filter((l) => l && !l.startsWith('#'));
    }, 60_000);
    afterAll(async () => {
      await server?.kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('declares every metric the rules and the dashboard query', () => {
      const used = new Set([...rules.map((r) => r.expr), ...dashboardQueries()].flatMap(metricNames));
      expect(used.size).toBeGreaterThanOrEqual(15);
      expect([...used].filter((name) => !families.has(name))).toEqual([]);
    });

    it('the synthetic series of the rule tests use metric names and labels the service has', () => {
      for (const t of ruleTests) {
        for (const { series } of t.input_series) {
          const [, name, labels] = /^(\w+)\{(.*)\}$/.exec(series)!;
          expect([series, families.has(name)]).toEqual([series, true]);
          const ours = [...labels.matchAll(/(\w+)="/g)].map(([, l]) => l).filter((l) => l !== 'job' && l !== 'instance');
          const live = samples.find((s) => s.startsWith(`${name}{`) || s.startsWith(`${name} `));
          if (live) {
            const liveLabels = [...live.matchAll(/(\w+)="/g)].map(([, l]) => l);
            expect([series, ours.sort()]).toEqual([series, liveLabels.sort()]);
          }
        }
      }
      // the per-key and per-code series the rules aggregate are there after the traffic above
      expect(samples.some((s) => /^idalloc_ids_issued_total\{strategy="segment",key="default"\} 5$/.test(s))).toBe(true);
      expect(samples.some((s) => /^idalloc_errors_total\{code="UNKNOWN_KEY"\} 1$/.test(s))).toBe(true);
    });
  });

  if (!existsSync(PROMTOOL)) {
    it(`promtool did not run: none at ${PROMTOOL} (.ci/run unpacks Debian's prometheus package there)`, () => {
      expect(process.env.CI).toBeFalsy(); // on CI a missing promtool fails the run
    });
  } else {
    it('promtool check rules: the rules parse', async () => {
      const { stdout } = await run(PROMTOOL, ['check', 'rules', RULES]);
      expect(stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
    });

    it('promtool test rules: every alert fires on its synthetic series, and the quiet ones stay quiet', async () => {
      const { stdout } = await run(PROMTOOL, ['test', 'rules', RULE_TESTS], { cwd: join(ROOT, 'deploy/prometheus') });
      expect(stdout).toMatch(/SUCCESS/);
    });
  }
});
