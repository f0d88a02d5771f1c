import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as ts from 'typescript';
import { ServerProcess } from './support/process';

const run = promisify(execFile);
const ADMIN_TOKEN = 'openapi-admin-token-0123';
const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'node_modules/openapi-typescript/bin/cli.js');
const CLIENT = join(__dirname, 'openapi-client', 'client.ts');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

type Doc = {
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, any>>;
  components: { securitySchemes?: Record<string, any>; schemas: Record<string, any> };
};

function operationsOf(doc: Doc): { path: string; method: string; op: any }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] })),
  );
}

function compile(files: string[]): ts.Program {
  return ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
    skipLibCheck: true,
  });
}

function diagnosticsOf(program: ts.Program, file: string): { line: number; text: string }[] {
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ({
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1,
    text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

/**
 * Every place of an operation's parameters, request body and responses (bodies and declared
 * headers) whose type is `any` or `unknown`, however deep. The generator's own open index
 * signature on response headers (`[name: string]: unknown`) is the one thing allowed.
 */
function untypedPlaces(program: ts.Program, apiFile: string): { operations: string[]; problems: string[] } {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(apiFile)!;
  const decl = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'operations')!;
  const operationsType = checker.getTypeAtLocation(decl);
  const problems: string[] = [];
  // NonNullable<unknown> is {}: look at `unknown` and `any` before taking undefined away
  const typeOf = (symbol: ts.Symbol) => {
    const type = checker.getTypeOfSymbol(symbol);
    return type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown) ? type : checker.getNonNullableType(type);
  };
  const prop = (type: ts.Type, name: string) => {
    const symbol = type.getProperty(name);
    return symbol ? typeOf(symbol) : undefined;
  };
  const walk = (type: ts.Type, where: string, seen: Set<ts.Type>) => {
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) {
      problems.push(`${where}: ${checker.typeToString(type)}`);
      return;
    }
    if (seen.has(type)) return;
    seen.add(type);
    if (type.isUnionOrIntersection()) {
      for (const t of type.types) walk(t, where, seen);
      return;
    }
    if (!(type.flags & ts.TypeFlags.Object)) return;
    if (checker.isArrayType(type)) {
      walk(checker.getTypeArguments(type as ts.TypeReference)[0], `${where}[]`, seen);
      return;
    }
    for (const info of checker.getIndexInfosOfType(type)) walk(info.type, `${where}[*]`, seen);
    for (const symbol of checker.getPropertiesOfType(type)) {
      walk(typeOf(symbol), `${where}.${symbol.name}`, seen);
    }
  };
  const operations = checker.getPropertiesOfType(operationsType).map((s) => s.name);
  for (const symbol of checker.getPropertiesOfType(operationsType)) {
    const op = checker.getTypeOfSymbol(symbol);
    const name = symbol.name;
    const parameters = prop(op, 'parameters');
    for (const place of ['query', 'header', 'path', 'cookie']) {
      const t = parameters && prop(parameters, place);
      if (t && !(t.flags & ts.TypeFlags.Never)) walk(t, `${name} parameters.${place}`, new Set());
    }
    const body = prop(op, 'requestBody');
    if (body && !(body.flags & ts.TypeFlags.Never)) walk(body, `${name} requestBody`, new Set());
    const responses = prop(op, 'responses')!;
    for (const status of checker.getPropertiesOfType(responses)) {
      const response = checker.getTypeOfSymbol(status);
      const content = prop(response, 'content');
      if (!content || content.flags & ts.TypeFlags.Never) problems.push(`${name} ${status.name}: no body`);
      else walk(content, `${name} ${status.name} content`, new Set());
      const headers = prop(response, 'headers');
      for (const h of headers ? checker.getPropertiesOfType(headers) : []) {
        walk(typeOf(h), `${name} ${status.name} header ${h.name}`, new Set());
      }
    }
  }
  return { operations, problems };
}

describe('the OpenAPI document, as a generated client sees it', () => {
  let server: ServerProcess;
  let doc: Doc;
  let dir: string;
  let apiFile: string;
  let clientFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idalloc-openapi-'));
    server = await ServerProcess.start({ SQLITE_PATH: join(dir, 'ids.sqlite'), ADMIN_TOKEN });
    const res = await fetch(`${server.url}/docs-json`);
    expect(res.status).toBe(200);
    const text = await res.text();
    doc = JSON.parse(text);
    writeFileSync(join(dir, 'openapi.json'), text);
    apiFile = join(dir, 'api.d.ts');
    clientFile = join(dir, 'client.ts');
    await run(process.execPath, [CLI, join(dir, 'openapi.json'), '-o', apiFile], { cwd: ROOT, timeout: 60_000 });
    copyFileSync(CLIENT, clientFile);
  }, 90_000);

  afterAll(async () => {
    await server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names every operation readably, lists a server and two bearer schemes, none JWT-formatted', () => {
    const ops = operationsOf(doc);
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.every((id) => /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.servers?.length).toBeGreaterThan(0);
    const schemes = doc.components.securitySchemes ?? {};
    expect(Object.keys(schemes).sort()).toEqual(['adminToken', 'apiToken']);
    for (const s of Object.values(schemes)) expect(s).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const s of Object.values(schemes)) expect(s.bearerFormat).toBeUndefined();
    for (const { path, op } of ops) {
      const names = (op.security ?? []).flatMap((r: object) => Object.keys(r));
      if (path.startsWith('/admin/')) expect(names).toEqual(['adminToken']);
      if (path.startsWith('/ids/{') || path === '/alloc' || path.startsWith('/api/')) {
        expect(op.security).toEqual([{ apiToken: [] }, {}]); // a token only when API_TOKENS is set
      }
    }
  });

  it('says in words which routes are open-or-token and which need the admin token; no inverted lock icons', async () => {
    const access = (op: any) => String(op.description ?? '').split('\n')[0];
    const ops = operationsOf(doc);
    const admin = ops.filter(({ path }) => path.startsWith('/admin/'));
    const ids = ops.filter(({ path }) => path.startsWith('/ids/{') || path === '/alloc' || path.startsWith('/api/'));
    expect(admin.length).toBeGreaterThan(5);
    expect(ids.length).toBeGreaterThan(3);
    for (const { op } of admin) expect(access(op)).toMatch(/^\*\*Access: admin token required\*\*/);
    for (const { op } of ids) expect(access(op)).toMatch(/^\*\*Access: open\*\*, or with `API_TOKENS` set a token/);
    for (const { path, op } of ops.filter(({ op }) => (op.security ?? []).length === 0)) expect(`${path} ${access(op)}`).not.toContain('Access:');
    // Swagger UI's per-operation lock shows "credentials entered", backwards for these routes
    const page = await (await fetch(`${server.url}/docs`)).text();
    expect(page).toContain('.swagger-ui .opblock .authorization__btn { display: none; }');
  });

  it("says beside each tag's name who may call its routes, as its operations' security has it", () => {
    const ops = operationsOf(doc);
    const tags: { name: string; description?: string }[] = doc.tags ?? [];
    expect(tags.map((t) => t.name)).toEqual(['ids', 'compat', 'admin', 'health']);
    for (const tag of tags) {
      const security = ops.filter(({ op }) => (op.tags ?? []).includes(tag.name)).map(({ op }) => (op.security ?? []).flatMap((r: object) => Object.keys(r)).join('+'));
      expect(security.length).toBeGreaterThan(0);
      const description = tag.description ?? '';
      if (description.startsWith('**Access: admin token required**')) expect(new Set(security)).toEqual(new Set(['adminToken']));
      else if (description.startsWith('**Access: open**, or with `API_TOKENS` set a token')) expect(security).toContain('apiToken');
      else if (description.startsWith('**Access: open.**')) expect(new Set(security)).toEqual(new Set(['']));
      else throw new Error(`tag ${tag.name}: no access line in "${description}"`);
      expect(security).not.toContain(description.includes('admin token required') ? 'apiToken' : 'adminToken');
    }
    expect(tags.find((t) => t.name === 'admin')?.description).toMatch(/^\*\*Access: admin token required\*\*/);
  });

  it('asks for no authorization header parameter: the schemes carry the token (the one header parameter: Idempotency-Key)', () => {
    const all: string[] = [];
    for (const { path, op } of operationsOf(doc)) {
      all.push(...(op.parameters ?? []).filter((p: any) => p.in === 'header').map((p: any) => `${op.operationId} ${path} ${p.name}`));
    }
    expect(all).toEqual(['issueIdsIdempotent /ids/{strategy} Idempotency-Key']);
  });

  it('declares errors as JSON, one example per code under its status, and Retry-After on every 503', () => {
    for (const { path, method, op } of operationsOf(doc)) {
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (Number(status) < 400) continue;
        const where = `${method} ${path} ${status}`;
        expect([where, Object.keys(response.content ?? {})]).toEqual([where, ['application/json']]);
        const examples = Object.values<any>(response.content['application/json'].examples ?? {});
        expect([where, examples.length > 0]).toEqual([where, true]);
        for (const { value } of examples) {
          if (path === '/alloc') expect(value).toMatchObject({ Errno: -1, Id: 0 });
          else if (path === '/health') expect(value).toMatchObject({ errno: -1, left: 0 });
          else if (path === '/health/ready') expect(value).toMatchObject({ status: 'error', error: {} });
          else expect([where, value.statusCode]).toEqual([where, Number(status)]);
        }
        // readiness is for probes, which retry on their own period; every other 503 says when
        if (status === '503' && path !== '/health/ready') expect([where, Object.keys(response.headers ?? {})]).toEqual([where, ['Retry-After']]);
      }
    }
    const readiness = JSON.stringify(doc.paths['/health/ready'].get);
    expect(readiness).not.toMatch(/redis/i);
    expect(doc.paths['/health/ready'].get.responses['503'].content['application/json'].schema.$ref).toMatch(/ReadinessDto$/);
  });

  it('documents the strategies this build registers, and /admin/info with a schema', async () => {
    expect(doc.components.schemas.Strategy.enum).toBeDefined();
    const info = await fetch(`${server.url}/admin/info`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.json() as Promise<{ strategies: string[] }>);
    expect([...doc.components.schemas.Strategy.enum].sort()).toEqual([...info.strategies].sort());
    expect(doc.paths['/admin/info'].get.responses['200'].content['application/json'].schema.$ref).toMatch(/AdminInfoDto$/);
  });

  it('has request examples the server accepts (every skip example answers 200)', async () => {
    const examples = Object.entries<any>(doc.paths['/admin/segments/{key}/skip'].post.requestBody.content['application/json'].examples);
    expect(examples.length).toBe(2);
    for (const [name, { value }] of examples) {
      const create = await fetch(`${server.url}/admin/segments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: `example-${name}` }),
      });
      expect(create.status).toBe(201);
      const res = await fetch(`${server.url}/admin/segments/example-${name}/skip`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(value),
      });
      expect([value, res.status]).toEqual([value, 200]);
    }
  });

  it('generates types with no unknown or any in any operation', () => {
    const { operations, problems } = untypedPlaces(compile([apiFile]), apiFile);
    expect(operations.sort()).toEqual(operationsOf(doc).map(({ op }) => op.operationId).sort());
    expect(problems).toEqual([]);
  });

  it('the check itself finds unknown and any: an untyped query parameter, body and header of a made-up document', async () => {
    const untyped = {
      openapi: '3.0.0',
      info: { title: 'untyped', version: '1' },
      paths: {
        '/x': {
          get: {
            operationId: 'untyped',
            parameters: [{ name: 'count', in: 'query', schema: {} }],
            responses: { '200': { description: 'ok', headers: { 'Retry-After': { schema: {} } }, content: { 'application/json': { schema: { type: 'object', properties: { a: {} } } } } } },
          },
        },
      },
    };
    writeFileSync(join(dir, 'untyped.json'), JSON.stringify(untyped));
    const file = join(dir, 'untyped.d.ts');
    await run(process.execPath, [CLI, join(dir, 'untyped.json'), '-o', file], { cwd: ROOT, timeout: 60_000 });
    const { problems } = untypedPlaces(compile([file]), file);
    expect(problems).toEqual([
      'untyped parameters.query.count: unknown',
      'untyped 200 content.application/json.a: unknown',
      'untyped 200 header Retry-After: unknown',
    ]);
  }, 60_000);

  it('type-checks the client program, and each @ts-expect-error line fails to compile without its directive', () => {
    expect(diagnosticsOf(compile([clientFile]), clientFile)).toEqual([]);
    const source = readFileSync(clientFile, 'utf8');
    const marked = source.split('\n').flatMap((line, i) => (line.includes('// @ts-expect-error') ? [i + 1] : []));
    expect(marked.length).toBeGreaterThanOrEqual(6);
    const bare = join(dirname(clientFile), 'client-bare.ts');
    writeFileSync(bare, source.replace(/\/\/ @ts-expect-error/g, '// expected error:'));
    const lines = new Set(diagnosticsOf(compile([bare]), bare).map((d) => d.line));
    expect(marked.filter((line) => !lines.has(line))).toEqual([]);
  });

  it('runs the client program against the server and sees what the types promise', async () => {
    const js = ts.transpileModule(readFileSync(clientFile, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(dir, 'client.js'), js);
    const { stdout } = await run(process.execPath, [join(dir, 'client.js'), server.url, ADMIN_TOKEN], { timeout: 30_000 });
    const seen = JSON.parse(stdout);
    expect(seen.segmentIds).toHaveLength(3);
    expect(seen.uuidStrategy).toBe('uuidv7');
    expect(seen.missing).toMatchObject({ status: 404, code: 'UNKNOWN_KEY' });
    expect(seen.badCount).toBe('INVALID_COUNT');
    expect(seen.created).toMatchObject({ key: 'openapi-orders', step: 100 });
    expect(seen.again).toBe('KEY_EXISTS');
    expect(BigInt(seen.skippedMaxId)).toBeGreaterThan(5_000_000n);
    expect(seen.both.code).toBe('VALIDATION_FAILED');
    expect(seen.both.details).toEqual(['(body): give by or to, not both']);
    expect(seen.afterSkip.map(BigInt).every((id: bigint) => id > 5_000_000n)).toBe(true);
    expect(seen.listed.stepInUse).toBeGreaterThanOrEqual(100);
    expect(seen.info.strategies).toContain('segment');
    expect(seen.info.maxCount).toBe(10000);
    expect(seen.denied).toBe('UNAUTHORIZED');
    expect(seen.alloc).toEqual({ Errno: 0, idIsNumber: true });
    expect(seen.leaf).toMatch(/^[1-9][0-9]*$/);
    expect(seen.ready).toEqual({ status: 'ok', snowflakeLayout: '41,10,12', segmentDb: 'up' });
  }, 60_000);
});
