import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningApp, request, startApp } from './support/app';
import { testConfig } from './support/config';
import { freePort, ServerProcess } from './support/process';

const ADMIN_TOKEN = 'goalloc-routes-admin-token';
const SECRET = 'a-long-random-secret-for-the-goalloc-tests-0123';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

/** go-id-alloc's current routes, /alloc?biz_tag= and /health?biz_tag=, on the embedded default */
describe("go-id-alloc's current /alloc?biz_tag and /health?biz_tag", () => {
  let app: RunningApp;
  const create = (body: unknown) => app.get('/admin/segments', { method: 'POST', headers: auth, body: JSON.stringify(body) });

  beforeAll(async () => {
    app = await startApp(testConfig({ ADMIN_TOKEN, ID_SECRET: SECRET }));
    expect((await create({ key: 'test', startId: 201, step: 100 })).status).toBe(201);
    expect((await create({ key: 'fresh', step: 50 })).status).toBe(201);
    expect((await create({ key: 'pub', public: true, step: 100 })).status).toBe(201);
    // ids above 2^53: the answer must carry every digit
    expect((await create({ key: 'big', startId: '9007199254740993', step: 10 })).status).toBe(201);
    expect((await create({ key: 'edge', startId: '9223372036854775797', step: 10 })).status).toBe(201);
  });
  afterAll(() => app.close());

  it('answers its shape: an exact JSON number from segment key biz_tag, unknown parameters ignored', async () => {
    const first = await app.get('/alloc?biz_tag=test');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    expect(first.text).toBe('{"errno":0,"msg":"success","id":201}');
    const next = await app.get('/alloc?biz_tag=test&count=5&key=other&foo=bar');
    expect(next.text).toBe('{"errno":0,"msg":"success","id":202}');
    // the same sequence as /ids/segment
    expect((await app.get('/ids/segment?key=test')).body.ids).toEqual(['203']);
  });

  it('keeps every digit of ids above 2^53', async () => {
    expect((await app.get('/alloc?biz_tag=big')).text).toBe('{"errno":0,"msg":"success","id":9007199254740993}');
    expect((await app.get('/alloc?biz_tag=big')).text).toBe('{"errno":0,"msg":"success","id":9007199254740994}');
  });

  it('/alloc without biz_tag stays the first version’s partition answer', async () => {
    const res = await app.get('/alloc?foo=1');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^\{"Errno":0,"Msg":"","Id":[1-9][0-9]*\}$/);
  });

  it.each([
    ['/alloc?biz_tag=', 400, 'INVALID_KEY'],
    ['/alloc?biz_tag=bad%20tag', 400, 'INVALID_KEY'],
    ['/alloc?biz_tag=test&biz_tag=other', 400, 'INVALID_KEY'],
    ['/alloc?biz_tag=nosuchtag', 404, 'UNKNOWN_KEY'],
    ['/alloc?biz_tag=pub', 400, 'INVALID_KEY'],
  ])('%s: %i with errno -1, id 0 and the code in msg', async (path, status, code) => {
    const res = await app.get(path);
    expect(res.status).toBe(status);
    expect(Object.keys(res.body)).toEqual(['errno', 'msg', 'id']);
    expect(res.body).toMatchObject({ errno: -1, id: 0 });
    expect(res.body.msg).toMatch(new RegExp(`^${code}: `));
  });

  it('a public key on /alloc says where its ids come from', async () => {
    expect((await app.get('/alloc?biz_tag=pub')).body.msg).toContain('/ids/segment?key=pub');
  });

  it('an exhausted key is a 409 without Retry-After (permanent) after its last ids', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(/"id":([0-9]+)\}$/.exec((await app.get('/alloc?biz_tag=edge')).text)![1]);
    expect(ids[0]).toBe('9223372036854775797');
    expect(ids[9]).toBe('9223372036854775806');
    const res = await app.get('/alloc?biz_tag=edge');
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(res.body).toMatchObject({ errno: -1, id: 0 });
    expect(res.body.msg).toMatch(/^ID_SPACE_EXHAUSTED: /);
  });

  it('/health?biz_tag loads a key on its first call and answers the ids buffered here', async () => {
    const res = await app.get('/health?biz_tag=fresh&probe=lb');
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"errno":0,"msg":"success","left":50}');
    await app.get('/alloc?biz_tag=fresh');
    // one id taken; the preload may have fetched the next segment
    expect([49, 99]).toContain((await app.get('/health?biz_tag=fresh')).body.left);
  });

  it('/health?biz_tag shows a public key only as 1 or 0', async () => {
    const res = await app.get('/health?biz_tag=pub');
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"errno":0,"msg":"success","left":1}');
  });

  it.each([
    ['/health', 400, 'INVALID_KEY'],
    ['/health?biz_tag=', 400, 'INVALID_KEY'],
    ['/health?biz_tag=nosuchtag', 404, 'UNKNOWN_KEY'],
  ])('%s: %i with errno -1 and left 0', async (path, status, code) => {
    const res = await app.get(path);
    expect(res.status).toBe(status);
    expect(Object.keys(res.body)).toEqual(['errno', 'msg', 'left']);
    expect(res.body).toMatchObject({ errno: -1, left: 0 });
    expect(res.body.msg).toMatch(new RegExp(`^${code}: `));
  });

  it('leaves the service’s own health routes alone', async () => {
    expect((await app.get('/health/live')).status).toBe(200);
    expect((await app.get('/health/ready')).body.status).toBe('ok');
  });
});

describe('the command line, as a real process', () => {
  it.each([[['start']], [['--port', '80']], [['-c', 'alloc.json']], [['-config']]])('%j stops the start with one line, exit 2', async (argv) => {
    const server = ServerProcess.spawn({}, argv, await freePort());
    const exit = await server.exited;
    expect(exit.code).toBe(2);
    const lines = server.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^id-allocator: invalid configuration: (argument "|-config: needs a file path)/);
  });

  it.each([[['-config', 'FILE']], [['-config=FILE']], [['--config', 'FILE']], [['--config=FILE']]])('%j reads the file', async (form) => {
    const dir = mkdtempSync(join(tmpdir(), 'idalloc-cli-'));
    const file = join(dir, 'ids.json');
    const port = await freePort();
    writeFileSync(file, JSON.stringify({ PORT: port, SQLITE_PATH: join(dir, 'ids.sqlite') }));
    const argv = form.map((a) => a.replace('FILE', file));
    const server = ServerProcess.spawn({}, argv, port);
    try {
      await server.waitLive();
      expect((await request(`${server.url}/alloc?biz_tag=default`)).text).toBe('{"errno":0,"msg":"success","id":1}');
    } finally {
      await server.kill();
    }
  }, 60_000);
});
