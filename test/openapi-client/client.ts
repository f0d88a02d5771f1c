/*
 * A small client program written only against the types openapi-typescript generates from the
 * live /docs-json (./api.d.ts, made by test/openapi.e2e-spec.ts). It must type-check as it is;
 * each `@ts-expect-error` line must fail to compile without its directive; and run against the
 * server, it prints one JSON line of what it saw.
 */
import type { components, paths } from './api';

type HttpMethod = 'get' | 'post' | 'patch';
type Op<P extends keyof paths, M extends HttpMethod> = NonNullable<paths[P][M]>;
type PathParams<O> = O extends { parameters: { path: infer X } } ? X : never;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type JsonBody<O> = O extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type Init<O> = ([PathParams<O>] extends [never] ? { path?: undefined } : { path: PathParams<O> }) & {
  query?: QueryParams<O>;
  token?: string;
} & ([JsonBody<O>] extends [never] ? { body?: undefined } : { body: JsonBody<O> });
type Responses<O> = O extends { responses: infer R } ? R : never;
type Content<R> = R extends { content: { 'application/json': infer J } }
  ? J
  : R extends { content: { 'text/plain': infer T } }
    ? T
    : never;
/** every documented answer, discriminated by status */
type Answer<O> = { [S in keyof Responses<O>]: { status: S; body: Content<Responses<O>[S]>; retryAfter: string | null } }[keyof Responses<O>];

const base = process.argv[2];

async function call<P extends keyof paths, M extends HttpMethod>(path: P, method: M, init: Init<Op<P, M>>): Promise<Answer<Op<P, M>>> {
  let url = String(path);
  for (const [name, value] of Object.entries((init.path ?? {}) as Record<string, string | number>)) {
    url = url.replace(`{${name}}`, encodeURIComponent(String(value)));
  }
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries((init.query ?? {}) as Record<string, string | number>)) query.set(name, String(value));
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${url}${query.size ? `?${query}` : ''}`, {
    method: method.toUpperCase(),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  const body = (res.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) : text;
  return { status: res.status, body, retryAfter: res.headers.get('retry-after') } as Answer<Op<P, M>>;
}

type ErrorCode = components['schemas']['ErrorCode'];

async function main(adminToken: string): Promise<void> {
  const seen: Record<string, unknown> = {};

  // the id routes
  const ids = await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' }, query: { key: 'default', count: 3 } });
  if (ids.status !== 200) throw new Error(`issueIds: ${ids.status}`);
  const list: string[] = ids.body.ids;
  seen.segmentIds = list;
  const uuid = await call('/ids/{strategy}', 'get', { path: { strategy: 'uuidv7' } });
  if (uuid.status === 200) seen.uuidStrategy = uuid.body.strategy;

  // the error body: a typed code per status
  const missing = await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' }, query: { key: 'no-such-key' } });
  if (missing.status === 404) {
    const code: 'UNKNOWN_STRATEGY' | 'UNKNOWN_KEY' = missing.body.code;
    const anyCode: ErrorCode = missing.body.code;
    seen.missing = { status: missing.status, code, anyCode, message: missing.body.message };
  }
  const badCount = await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' }, query: { count: 0 } });
  if (badCount.status === 400) seen.badCount = badCount.body.code;

  // an admin flow: create a key, skip it, list it, issue above the skip
  const created = await call('/admin/segments', 'post', { token: adminToken, body: { key: 'openapi-orders', step: 100, description: 'from the generated types' } });
  if (created.status !== 201) throw new Error(`createSegmentKey: ${created.status}`);
  const maxId: string = created.body.maxId;
  seen.created = { key: created.body.key, maxId, step: created.body.step };
  const again = await call('/admin/segments', 'post', { token: adminToken, body: { key: 'openapi-orders' } });
  if (again.status === 409) seen.again = again.body.code;
  const skipped = await call('/admin/segments/{key}/skip', 'post', { token: adminToken, path: { key: 'openapi-orders' }, body: { to: '5000000' } });
  if (skipped.status === 200) seen.skippedMaxId = skipped.body.maxId;
  const both = await call('/admin/segments/{key}/skip', 'post', { token: adminToken, path: { key: 'openapi-orders' }, body: { by: 1, to: 2 } as never });
  if (both.status === 400) seen.both = { code: both.body.code, details: both.body.details?.map((d) => `${d.field}: ${d.problem}`) };
  const after = await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' }, query: { key: 'openapi-orders', count: 2 } });
  if (after.status === 200) seen.afterSkip = after.body.ids;
  const keys = await call('/admin/segments', 'get', { token: adminToken });
  if (keys.status === 200) {
    const row = keys.body.segments.find((s) => s.key === 'openapi-orders');
    seen.listed = { maxId: row?.maxId, stepInUse: row?.buffer?.stepInUse ?? null, idsLeft: row?.buffer?.idsLeft ?? null };
  }
  const info = await call('/admin/info', 'get', { token: adminToken });
  if (info.status === 200) seen.info = { strategies: info.body.strategies, maxCount: info.body.settings.MAX_COUNT };
  const denied = await call('/admin/info', 'get', { token: 'not-the-admin-token' });
  if (denied.status === 401) seen.denied = denied.body.code;

  // compat routes and readiness
  const alloc = await call('/alloc', 'get', {});
  if (alloc.status === 200) seen.alloc = { Errno: alloc.body.Errno, idIsNumber: typeof alloc.body.Id === 'number' };
  const leaf = await call('/api/segment/get/{key}', 'get', { path: { key: 'default' } });
  if (leaf.status === 200) seen.leaf = leaf.body;
  const ready = await call('/health/ready', 'get', {});
  if (ready.status === 200) {
    seen.ready = { status: ready.body.status, snowflakeLayout: ready.body.details.snowflake?.layout, segmentDb: ready.body.details.segment?.database.status };
  }
  process.stdout.write(JSON.stringify(seen) + '\n');
}

/** never run: each line must be a compile error */
export async function mistakes(): Promise<void> {
  // @ts-expect-error wrong strategy
  await call('/ids/{strategy}', 'get', { path: { strategy: 'snowflak' } });
  // @ts-expect-error count is a number
  await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' }, query: { count: [1, 2] } });
  // @ts-expect-error missing skip body
  await call('/admin/segments/{key}/skip', 'post', { path: { key: 'orders' } });
  // @ts-expect-error empty skip body (by or to)
  await call('/admin/segments/{key}/skip', 'post', { path: { key: 'orders' }, body: {} });
  const r = await call('/ids/{strategy}', 'get', { path: { strategy: 'segment' } });
  if (r.status === 404) {
    // @ts-expect-error not a code a 404 carries
    const code: 'KEY_EXISTS' = r.body.code;
    void code;
  }
  if (r.status === 200) {
    // @ts-expect-error ids are strings
    const n: number[] = r.body.ids;
    void n;
  }
}

main(process.argv[3]).catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
