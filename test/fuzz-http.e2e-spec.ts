import { Agent, request as httpRequest } from 'node:http';
import { ERROR_CODES } from '@app/core';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { ServerProcess } from './support/process';

/**
 * Generated requests against a real server process (its own SQLite database): random paths,
 * percent-encodings, query strings, repeated and oversized parameters, headers, bodies on every
 * admin route, with and without tokens. Every answer must be a 2xx or carry the error contract
 * with a stable code, none a 500, and the ids received unique per sequence (per key for segment
 * keys). Skips and exhaustion are valid answers. Seeded: FUZZ_SEED=n reproduces a run.
 */
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const CONCURRENCY = 8;
const DEADLINE_MS = 15 * 60_000;
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';
const API_TOKEN = 'fuzz-api-token-all-keys';
const KEYED_TOKEN = 'fuzz-api-token-fz1-only';
const MAX = 2n ** 63n - 1n;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Fuzzed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** where a 2xx's ids go, and how many to expect */
  expect?: { kind: 'ids' | 'alloc' | 'leaf'; bucket: (body: any) => string };
}

class Generator {
  private readonly rnd: () => number;
  private created = 0;
  readonly keys = ['default', 'fz1', 'fz.2', 'fz:3', 'fz_4-x', 'k'.repeat(128), 'pub1'];

  constructor(seed: number) {
    this.rnd = mulberry32(seed);
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
  private chance(p: number): boolean {
    return this.rnd() < p;
  }
  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rnd() * list.length)];
  }
  private junk(max: number): string {
    const alphabet = 'abcXYZ019-_.:~!$&\'()*+,;=@ /?#[]%"<>\\^`{|}é\u00ff\u4e2d';
    let s = '';
    for (let i = this.int(0, max); i > 0; i--) s += this.pick([...alphabet]);
    return s;
  }
  /** percent-encoded text, sometimes with broken escapes */
  private encoded(max: number): string {
    const s = encodeURIComponent(this.junk(max));
    if (!this.chance(0.15)) return s;
    return s + this.pick(['%', '%Z', '%ZZ', '%E0%A4%A', '%C3', '%00', '%2F', '%25', '%%%', '%u1234']);
  }
  private anyKey(): string {
    if (this.chance(0.75)) return this.pick(this.keys);
    return this.pick(['', 'a b', 'x'.repeat(129), 'x'.repeat(this.int(200, 3000)), '%00', '..', 'a/b', this.junk(20)]);
  }
  private query(params: [string, string][]): string {
    if (params.length === 0) return '';
    return '?' + params.map(([k, v]) => (this.chance(0.9) ? `${encodeURIComponent(k)}=${encodeURIComponent(v)}` : `${this.encoded(8)}=${this.encoded(8)}`)).join('&');
  }
  private junkHeaders(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.chance(0.2)) h['x-fuzz'] = 'v'.repeat(this.int(1, 4000));
    if (this.chance(0.02)) h['x-oversized'] = 'o'.repeat(20_000);
    if (this.chance(0.1)) h.accept = this.pick(['text/html', '*/*', 'application/xml', 'application/json;q=0']);
    if (this.chance(0.05)) h['accept-version'] = this.pick(['1', 'x']);
    return h;
  }
  private apiAuth(): Record<string, string> {
    const r = this.rnd();
    if (r < 0.75) return { authorization: `Bearer ${API_TOKEN}` };
    if (r < 0.85) return { authorization: `Bearer ${KEYED_TOKEN}` };
    if (r < 0.92) return {};
    return { authorization: this.pick(['Bearer wrong', 'Basic abc', 'Bearer', `bearer ${API_TOKEN}`, this.junk(30).replace(/[^\x20-\x7e]/g, '')]) };
  }
  private adminAuth(): Record<string, string> {
    const r = this.rnd();
    if (r < 0.7) return { authorization: `Bearer ${ADMIN_TOKEN}` };
    if (r < 0.85) return {};
    if (r < 0.95) return { authorization: `Bearer ${ADMIN_TOKEN}x` };
    return { authorization: `Bearer ${API_TOKEN}` };
  }
  private number(): unknown {
    return this.pick([
      () => this.int(1, 100),
      () => this.int(-5, 0),
      () => String(this.int(1, 100000)),
      () => (MAX - BigInt(this.int(0, 500))).toString(),
      () => MAX.toString() + '0',
      () => 1.5,
      () => '1e3',
      () => null,
      () => [1],
      () => ({ n: 1 }),
      () => this.junk(10),
    ])();
  }
  private adminBody(fields: string[]): { body?: string; contentType?: string } {
    const r = this.rnd();
    const contentType = this.chance(0.85)
      ? this.pick(['application/json', 'application/json; charset=utf-8'])
      : this.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data']);
    if (r < 0.6) {
      const body: Record<string, unknown> = {};
      for (const f of fields) if (this.chance(0.6)) body[f] = f === 'key' ? this.pick([`fzn${this.created++}`, ...this.keys, this.anyKey()]) : f === 'description' ? this.junk(40) : f === 'public' ? this.chance(0.5) : this.number();
      if (this.chance(0.1)) body[this.junk(6)] = 1;
      return { body: JSON.stringify(body), contentType };
    }
    if (r < 0.7) return { body: this.pick(['[]', 'null', '"text"', '42', '{"a":', '{{', '']), contentType };
    if (r < 0.8) return { body: JSON.stringify({ big: 'b'.repeat(this.int(1000, 70_000)) }), contentType };
    if (r < 0.9) return { body: this.junk(200), contentType };
    return {};
  }

  next(): Fuzzed {
    const r = this.rnd();
    const headers = this.junkHeaders();
    if (r < 0.35) {
      const strategy = this.chance(0.85) ? this.pick(['segment', 'segment', 'partition', 'ticket', 'snowflake', 'uuid', 'uuidv7']) : this.encoded(12);
      const params: [string, string][] = [];
      if (this.chance(0.7)) params.push(['key', this.anyKey()]);
      if (this.chance(0.6)) {
        const c = this.chance(0.85) ? String(this.int(1, strategy === 'ticket' ? 5 : 50)) : this.pick(['0', '10001', 'abc', '1e3', '', '-1', '01', String(this.int(1, 9)).repeat(30)]);
        params.push(['count', c]);
      }
      if (this.chance(0.05)) params.push([this.pick(['key', 'count']), '2']);
      if (this.chance(0.08)) params.push([this.pick(['Key', 'cnt', 'COUNT', 'keys', 'x']), '1']);
      if (this.chance(0.03)) params.push(['key', 'y'.repeat(this.int(100, 20_000))]);
      const method = this.chance(0.95) ? 'GET' : this.pick(['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
      return {
        method,
        path: `/ids/${strategy}${this.query(params)}`,
        headers: { ...headers, ...this.apiAuth() },
        expect: { kind: 'ids', bucket: (b) => (b.strategy === 'segment' ? `segment:${b.key}` : b.strategy) },
      };
    }
    if (r < 0.4) {
      const id = this.pick([String(this.int(0, 2 ** 31)), MAX.toString(), (MAX + 1n).toString(), '-1', '0x10', this.encoded(25), '9'.repeat(this.int(1, 40))]);
      return { method: 'GET', path: `/ids/snowflake/${id}/decode${this.chance(0.1) ? '?x=1' : ''}`, headers: { ...headers, ...this.apiAuth() } };
    }
    if (r < 0.55) {
      const which = this.rnd();
      if (which < 0.4) {
        return { method: this.chance(0.95) ? 'GET' : 'HEAD', path: `/alloc${this.query(this.chance(0.3) ? [[this.junk(5), this.junk(5)]] : [])}`, headers: { ...headers, ...this.apiAuth() }, expect: { kind: 'alloc', bucket: () => 'partition' } };
      }
      const strategy = which < 0.75 ? 'segment' : 'snowflake';
      const key = this.chance(0.85) ? this.anyKey() : this.encoded(20);
      return {
        method: this.chance(0.95) ? 'GET' : 'HEAD',
        path: `/api/${strategy}/get/${encodeURIComponent(key)}${this.chance(0.2) ? this.query([[this.junk(4), '1']]) : ''}`,
        headers: { ...headers, ...this.apiAuth() },
        expect: { kind: 'leaf', bucket: () => (strategy === 'segment' ? `segment:${key}` : 'snowflake') },
      };
    }
    if (r < 0.8) {
      const key = encodeURIComponent(this.anyKey());
      const [method, path, fields] = this.pick<[string, string, string[]]>([
        ['GET', '/admin/segments', []],
        ['GET', '/admin/info', []],
        ['GET', `/admin/snowflake/${this.pick(['123', MAX.toString(), this.encoded(10)])}/decode`, []],
        ['POST', '/admin/segments', ['key', 'startId', 'step', 'description', 'public']],
        ['POST', '/admin/segments', ['key', 'step']],
        ['PATCH', `/admin/segments/${key}`, ['step', 'description']],
        ['POST', `/admin/segments/${key}/skip`, this.chance(0.5) ? ['by'] : ['to']],
        ['POST', `/admin/segments/${key}/skip`, ['by', 'to']],
        ['POST', `/admin/segments/${key}/reveal`, ['id']],
        ['POST', `/admin/partitions/${this.pick(['1', '2', '0', 'x', '99999'])}/skip`, ['to']],
      ]);
      const { body, contentType } = this.adminBody(fields);
      return {
        method: this.chance(0.95) ? method : this.pick(['PUT', 'DELETE', 'GET', 'POST']),
        path,
        headers: { ...headers, ...this.adminAuth(), ...(contentType && body !== undefined ? { 'content-type': contentType } : {}) },
        body: method === 'GET' && this.chance(0.7) ? undefined : body,
      };
    }
    if (r < 0.95) {
      const segments = Array.from({ length: this.int(0, 5) }, () =>
        this.pick([() => this.encoded(12), () => this.pick(['ids', 'admin', 'api', 'segments', 'get', '..', '.', '']), () => 'z'.repeat(this.int(100, 700))])(),
      );
      return { method: this.pick(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']), path: `/${segments.join('/')}${this.chance(0.3) ? `?${this.encoded(30)}` : ''}`, headers };
    }
    return { method: 'GET', path: this.pick(['/health/live', '/metrics', '/docs-json', '/dashboard']), headers };
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(agent: Agent, url: string, f: Fuzzed): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // A body always framed by its length: Node's client sends a GET's or DELETE's body with no
    // Content-Length at all, and the server then reads it as the connection's next request, whose
    // 400 lands on whichever request the agent sends next on that socket.
    const headers = f.body === undefined ? f.headers : { ...f.headers, 'content-length': String(Buffer.byteLength(f.body)) };
    const req = httpRequest(`${url}${f.path}`, { method: f.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.end(f.body);
  });
}

describe('fuzzing the HTTP edge of a real server process', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  beforeAll(async () => {
    db = await sqliteDatabase();
    server = await ServerProcess.start({
      ...db.env,
      ADMIN_TOKEN,
      ID_SECRET: 'fuzz-id-secret-0123456789abcdef',
      API_TOKENS: JSON.stringify([{ token: API_TOKEN }, { token: KEYED_TOKEN, keys: ['fz1'] }]),
      SEGMENT_DYNAMIC_STEP: 'false',
      LOG_LEVEL: 'error',
    });
    const generator = new Generator(SEED);
    for (const key of generator.keys.filter((k) => k !== 'default')) {
      const res = await fetch(`${server.url}/admin/segments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key, step: 50, public: key.startsWith('pub') }),
      });
      expect(res.status).toBe(201);
    }
  }, 60_000);
  afterAll(async () => {
    await server?.kill();
    await db?.drop();
  });

  it(`${TOTAL} generated requests: every answer a 2xx or the error contract with a stable code, no 500, ids unique`, async () => {
    const generator = new Generator(SEED);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const byStatusAndCode = new Map<string, number>();
    const violations: string[] = [];
    const seen = new Map<string, Set<string>>();
    const duplicates: string[] = [];
    let sent = 0;
    let answered = 0;
    let networkErrors = 0;
    const deadline = Date.now() + DEADLINE_MS;

    const violate = (f: Fuzzed, a: Answer, why: string) => {
      if (violations.length < 20) violations.push(`${f.method} ${f.path.slice(0, 200)} -> ${a.status} ${a.text.slice(0, 200)}: ${why}`);
    };
    const keep = (bucket: string, ids: string[]) => {
      let set = seen.get(bucket);
      if (set === undefined) seen.set(bucket, (set = new Set()));
      for (const id of ids) {
        if (set.has(id)) duplicates.push(`${bucket}:${id}`);
        set.add(id);
      }
    };

    const check = (f: Fuzzed, a: Answer) => {
      const path = f.path.split('?')[0];
      let body: any;
      try {
        body = a.text === '' ? undefined : JSON.parse(a.text);
      } catch {
        body = undefined;
      }
      const code = a.status < 400 ? '' : f.method === 'HEAD' ? '(HEAD: no body)' : String(body?.code ?? (path === '/alloc' ? `Errno ${body?.Errno}` : '?'));
      const label = `${a.status}${code ? ` ${code}` : ''}`;
      byStatusAndCode.set(label, (byStatusAndCode.get(label) ?? 0) + 1);
      if (a.status >= 500 && a.status !== 503) violate(f, a, 'a 5xx other than 503');
      if (a.status >= 200 && a.status < 300) {
        if (f.method !== 'GET' || f.expect === undefined) return;
        if (f.expect.kind === 'ids') {
          const asked = Number(new URLSearchParams(f.path.split('?')[1] ?? '').get('count') ?? 1);
          if (!Array.isArray(body?.ids) || body.ids.length !== asked) return violate(f, a, 'not the ids asked for');
          keep(f.expect.bucket(body), body.ids);
        } else if (f.expect.kind === 'alloc') {
          if (body?.Errno !== 0 || !Number.isSafeInteger(body?.Id)) return violate(f, a, 'not an /alloc answer');
          keep('partition', [String(body.Id)]);
        } else {
          if (!/^[0-9]+$/.test(a.text)) return violate(f, a, 'not a Leaf id');
          // Leaf's key is the decoded path parameter: the same bucket as /ids/segment?key=
          keep(f.expect.bucket(undefined), [a.text]);
        }
        return;
      }
      // the root's documented answer: a redirect to the Swagger UI
      if (a.status === 302 && a.headers.location === '/docs' && (f.method === 'GET' || f.method === 'HEAD')) return;
      if (a.status < 400) return violate(f, a, 'neither 2xx nor an error');
      if (a.status === 503 && !/^\d+$/.test(String(a.headers['retry-after']))) violate(f, a, '503 without Retry-After');
      if (a.status !== 503 && a.headers['retry-after'] !== undefined) violate(f, a, `Retry-After on a ${a.status}`);
      if (f.method === 'HEAD') return; // no body on HEAD; status and headers checked above
      if (path === '/alloc' && body?.code !== 'INVALID_REQUEST') {
        // (a request whose headers could not be read is answered before routing, in the error contract)
        if (body?.Errno !== -1 || body?.Id !== 0 || typeof body?.Msg !== 'string') violate(f, a, "not go-id-alloc's error shape");
        return;
      }
      if (path.startsWith('/health/')) return; // Terminus's own shape
      if (
        body?.statusCode !== a.status ||
        typeof body?.error !== 'string' ||
        typeof body?.message !== 'string' ||
        !(ERROR_CODES as readonly string[]).includes(body?.code)
      ) {
        violate(f, a, 'not the error contract');
      }
      if (body?.code === 'INTERNAL') violate(f, a, 'INTERNAL');
    };

    const worker = async () => {
      while (sent < TOTAL && Date.now() < deadline) {
        sent++;
        const f = generator.next();
        // Leaf's bucket must use the key as the server decodes it
        if (f.expect?.kind === 'leaf') {
          const m = /^\/api\/segment\/get\/([^?]*)/.exec(f.path);
          if (m) {
            let key: string;
            try {
              key = decodeURIComponent(m[1]);
            } catch {
              key = m[1];
            }
            f.expect.bucket = () => `segment:${key}`;
          }
        }
        try {
          check(f, await send(agent, server.url, f));
          answered++;
        } catch (e) {
          networkErrors++;
          if (violations.length < 20) violations.push(`${f.method} ${f.path.slice(0, 200)}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();

    const counts = [...byStatusAndCode].sort((a, b) => b[1] - a[1]);
    const idsReceived = [...seen.values()].reduce((n, s) => n + s.size, 0);
    process.stdout.write(
      `fuzz (seed ${SEED}): ${answered} answers, ${networkErrors} network errors, ${idsReceived} ids in ${seen.size} sequences\n` +
        counts.map(([label, n]) => `  ${String(n).padStart(6)}  ${label}`).join('\n') +
        '\n',
    );
    expect(violations).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(answered).toBeGreaterThanOrEqual(TOTAL);
    expect(byStatusAndCode.get('500 INTERNAL') ?? 0).toBe(0);
    // the run issued ids and met the errors it was built to meet
    expect(idsReceived).toBeGreaterThan(1000);
    for (const label of ['400 UNKNOWN_PARAMETER', '400 INVALID_KEY', '400 INVALID_REQUEST', '401 UNAUTHORIZED', '404 NOT_FOUND']) {
      expect(byStatusAndCode.get(label) ?? 0).toBeGreaterThan(0);
    }
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
  }, DEADLINE_MS + 60_000);
});
