import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '@app/core';
import { startApp } from './support/app';
import { testConfig } from './support/config';

const root = join(__dirname, '..');
const dir = join(root, 'deploy/k8s');
const docs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => ({ file: f, doc: d.toJS() })));
const ofKind = (kind: string) => docs.filter((d) => d.doc?.kind === kind).map((d) => d.doc);
const configMap = ofKind('ConfigMap')[0];
const secret = ofKind('Secret')[0];
const workloads = [...ofKind('Deployment'), ...ofKind('StatefulSet')];

describe('deploy/k8s manifests against the app', () => {
  it('has a Deployment, a StatefulSet, a Service, a ConfigMap and a Secret, all parseable', () => {
    expect(docs.every((d) => d.doc && d.doc.apiVersion && d.doc.kind)).toBe(true);
    expect(ofKind('Deployment')).toHaveLength(1);
    expect(ofKind('StatefulSet')).toHaveLength(1);
    expect(ofKind('Service').length).toBeGreaterThanOrEqual(1);
    expect(Object.keys(secret.stringData).sort()).toEqual(['ADMIN_TOKEN', 'DATABASE_URL', 'ID_SECRET', 'METRICS_TOKEN']);
  });

  it('Prometheus scrapes /metrics on the http port with METRICS_TOKEN from the Secret', () => {
    const [monitor] = ofKind('PodMonitor');
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(endpoint).toMatchObject({ port: 'http', path: '/metrics', authorization: { type: 'Bearer' } });
    expect(endpoint.authorization.credentials).toEqual({ name: secret.metadata.name, key: 'METRICS_TOKEN' });
    expect(monitor.spec.selector.matchLabels).toEqual(workloads[0].spec.selector.matchLabels);
    for (const w of workloads) {
      const container = w.spec.template.spec.containers[0];
      expect(container.ports.map((p: { name: string }) => p.name)).toContain('http');
      expect(container.env.map((e: { name: string }) => e.name)).toContain('METRICS_TOKEN');
    }
  });

  it.each(workloads.map((w) => [w.kind, w]))('%s: env names are settings, the database is MySQL, the config validates', (_kind, w) => {
    const container = w.spec.template.spec.containers[0];
    const env: Record<string, string> = { ...configMap.data };
    for (const e of container.env ?? []) {
      expect(CONFIG_KEYS).toContain(e.name);
      env[e.name] = e.value ?? secret.stringData[e.valueFrom.secretKeyRef.key];
      if (e.valueFrom) expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
    }
    for (const name of Object.keys(configMap.data)) expect(CONFIG_KEYS).toContain(name);
    expect(container.envFrom[0].configMapRef.name).toBe(configMap.metadata.name);
    const config = loadConfig({ env });
    expect(config.DB_TYPE).toBe('mysql'); // never the embedded SQLite: one file per pod would repeat ids
    expect(config.DATABASE_URL).toMatch(/^mysql:\/\//);
    if (w.kind === 'StatefulSet') expect(config.SNOWFLAKE_WORKER_ID).toBe('ordinal');
  });

  it.each(workloads.map((w) => [w.kind, w]))('%s: ports, probes, the drain and the grace period match the app', (_kind, w) => {
    const spec = w.spec.template.spec;
    const container = spec.containers[0];
    const port = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(port.containerPort).toBe(Number(configMap.data.PORT));
    expect(container.startupProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    // the app drains itself (readiness down, Connection: close) while the endpoint removal
    // propagates; a preStop sleep would hold its answers without either
    expect(container.lifecycle?.preStop).toBeUndefined();
    const config = loadConfig({ env: { ...configMap.data, DATABASE_URL: 'mysql://u@h/d' } });
    expect(config.SHUTDOWN_DRAIN_MS).toBeGreaterThanOrEqual(container.readinessProbe.periodSeconds * 1000);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan((config.SHUTDOWN_DRAIN_MS + config.SHUTDOWN_GRACE_MS) / 1000);
  });

  it('Services target the named container port', () => {
    for (const s of ofKind('Service')) {
      expect(s.spec.selector).toEqual({ app: 'id-allocator' });
      for (const p of s.spec.ports) expect(p.targetPort).toBe('http');
    }
  });

  it('every probe path answers 200 on the real app', async () => {
    const app = await startApp(testConfig());
    try {
      const paths = new Set<string>();
      for (const w of workloads) {
        const c = w.spec.template.spec.containers[0];
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) paths.add(c[probe].httpGet.path);
      }
      for (const path of paths) expect((await app.get(path)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('the Dockerfile is multi-stage, non-root, production dependencies only, with a HEALTHCHECK on /health/live', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/health\/live/);
    expect(dockerfile).toMatch(/CMD \["node", "dist\/apps\/id-server\/main.js"\]/);
  });
});
