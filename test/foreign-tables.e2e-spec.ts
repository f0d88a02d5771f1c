import type { Connection } from 'mysql2/promise';
import { RunningApp, startApp } from './support/app';
import { testConfig } from './support/config';
import { adminConnection, freshDatabase, MYSQL_HOST, MYSQL_PORT, mysqlAvailable, mysqlUnavailableReason } from './support/mysql';
import { goIdAllocDdl, LEAF_DDL } from './support/old-services';
import { freePort, ServerProcess } from './support/process';
import { TcpProxy } from './support/tcp-proxy';

/*
 * Segment tables made by Leaf's and go-id-alloc's own DDL: case-insensitive collations, a shorter
 * biz_tag, a NOT NULL description or one named `desc`.
 */

const ADMIN_TOKEN = 'foreign-tables-admin-token';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

if (!mysqlAvailable()) {
  it(`foreign table tests did not run: ${mysqlUnavailableReason()}`, () => {
    expect(process.env.CI).toBeFalsy();
  });
} else {
  describe.each([
    {
      name: "Leaf's leaf_alloc",
      table: 'leaf_alloc',
      ddl: LEAF_DDL,
      seed: "INSERT INTO leaf_alloc (biz_tag, max_id, step, description) VALUES ('orders', 1, 100, 'x'), ('Mixed', 1, 100, 'y')",
      keyLength: 128,
    },
    {
      name: "go-id-alloc's segments",
      table: 'segments',
      ddl: goIdAllocDdl(),
      seed: "INSERT INTO segments (biz_tag, max_id, step, description, update_time) VALUES ('orders', 0, 100, '', NOW()), ('Mixed', 0, 100, '', NOW())",
      keyLength: 32,
    },
    {
      name: "go-id-alloc's segments with a desc column",
      table: 'segments',
      ddl: goIdAllocDdl('segments', 'desc'),
      seed: "INSERT INTO segments (biz_tag, max_id, step, `desc`, update_time) VALUES ('orders', 0, 100, '', NOW()), ('Mixed', 0, 100, '', NOW())",
      keyLength: 32,
    },
  ])('$name', (source) => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let conn: Connection;
    let app: RunningApp;
    const admin = (method: string, path: string, body?: unknown) =>
      app.get(path, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });

    beforeAll(async () => {
      db = await freshDatabase(`foreign_${source.table}`);
      conn = await adminConnection(db.name);
      await conn.query(source.ddl);
      await conn.query(source.seed);
      app = await startApp(testConfig({ DATABASE_URL: db.url, SEGMENT_TABLE: source.table, ADMIN_TOKEN }));
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await conn?.end();
      await db?.drop();
    });

    it('the table compares case-insensitively (the precondition)', async () => {
      const [rows] = (await conn.query(`SELECT biz_tag FROM ${source.table} WHERE biz_tag = 'ORDERS'`)) as unknown as [unknown[]];
      expect(rows).toHaveLength(1);
    });

    it('ORDERS when the row is orders: 404 at once, every time, and orders keeps its own sequence', async () => {
      for (let i = 0; i < 5; i++) {
        const res = await app.get('/ids/segment?key=ORDERS');
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('UNKNOWN_KEY');
      }
      expect((await app.get('/alloc?biz_tag=ORDERS')).status).toBe(404);
      const ids = (await app.get('/ids/segment?key=orders&count=5')).body.ids as string[];
      expect(ids).toHaveLength(5);
      expect(ids.every((id) => BigInt(id) >= 1n)).toBe(true);
      // the key as stored and as asked: Mixed works, mixed and MIXED do not
      expect((await app.get('/ids/segment?key=Mixed')).status).toBe(200);
      expect((await app.get('/ids/segment?key=mixed')).status).toBe(404);
      expect((await app.get('/api/segment/get/MIXED')).status).toBe(404);
      const inUse = (await admin('GET', '/admin/segments')).body.segments.filter((s: { buffer: unknown }) => s.buffer !== null);
      expect(inUse.map((s: { key: string }) => s.key).sort()).toEqual(['Mixed', 'orders']);
    });

    it('a key longer than biz_tag holds is 400 INVALID_KEY naming the limit', async () => {
      const long = 'k'.repeat(source.keyLength + 1);
      for (const path of [`/ids/segment?key=${long}`, `/alloc?biz_tag=${long}`, `/health?biz_tag=${long}`]) {
        const res = await app.get(path);
        expect(res.status).toBe(400);
        expect(res.text).toContain(source.keyLength < 128 ? `at most ${source.keyLength} characters in table ${source.table}` : 'INVALID_KEY');
      }
      if (source.keyLength < 128) {
        const res = await admin('POST', '/admin/segments', { key: long });
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('INVALID_KEY');
      }
    });

    it('creates keys as the table needs them: \'\' where the description is NOT NULL; the same key in another case is taken', async () => {
      const created = await admin('POST', '/admin/segments', { key: 'newkey', step: 50 });
      expect(created.status).toBe(201);
      const column = source.ddl.includes('`desc`') ? '`desc`' : 'description';
      const [rows] = (await conn.query(`SELECT ${column} AS d, update_time FROM ${source.table} WHERE biz_tag = 'newkey'`)) as unknown as [
        { d: string | null; update_time: unknown }[],
      ];
      expect(rows[0].d).toBe(source.table === 'segments' ? '' : null);
      expect(rows[0].update_time).not.toBeNull();
      expect((await admin('PATCH', '/admin/segments/newkey', { description: 'patched' })).body.description).toBe('patched');
      expect((await app.get('/ids/segment?key=newkey')).body.ids).toEqual(['1']);
      // a case-insensitive primary key holds one of ORDERS and orders
      expect((await admin('POST', '/admin/segments', { key: 'ORDERS' })).body.code).toBe('KEY_EXISTS');
    });

    it('adds no trigger to the table', async () => {
      const [rows] = (await conn.query('SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ?', [db.name])) as unknown as [
        { n: string }[],
      ];
      expect(Number(rows[0].n)).toBe(0);
    });
  });

  describe('a table the service cannot use', () => {
    it('stops the start with one line (exit 2)', async () => {
      const db = await freshDatabase('foreign_bad');
      const conn = await adminConnection(db.name);
      try {
        await conn.query('CREATE TABLE segments (biz_tag varchar(32) NOT NULL PRIMARY KEY, max_id bigint NOT NULL, step bigint NOT NULL, update_time datetime)');
        const server = ServerProcess.spawn({ DATABASE_URL: db.url, SEGMENT_TABLE: 'segments' }, [], await freePort());
        const exit = await server.exited;
        expect(exit.code).toBe(2);
        // the last line is ours (Nest's own start-up log before it is the start-up path's concern)
        expect(server.output.trim().split('\n').at(-1)).toBe(
          'id-allocator: invalid configuration: SEGMENT_TABLE: table segments has neither a description nor a desc column; it needs biz_tag, max_id, step, description (or desc), update_time',
        );
      } finally {
        await conn.end();
        await db.drop();
      }
    }, 60_000);
  });

  describe('go-id-alloc routes without the database', () => {
    it('503 with Retry-After, errno -1 in its shapes', async () => {
      const db = await freshDatabase('foreign_down');
      const conn = await adminConnection(db.name);
      const proxy = await TcpProxy.start(MYSQL_HOST, MYSQL_PORT);
      await conn.query(goIdAllocDdl());
      await conn.query("INSERT INTO segments (biz_tag, max_id, step, description, update_time) VALUES ('test', 0, 10, '', NOW())");
      const app = await startApp(
        testConfig({ DATABASE_URL: db.url.replace(`:${MYSQL_PORT}/`, `:${proxy.port}/`), SEGMENT_TABLE: 'segments', SEGMENT_WAIT_MS: '300' }),
      );
      try {
        expect((await app.get('/alloc?biz_tag=test')).text).toBe('{"errno":0,"msg":"success","id":1}');
        await proxy.set('cut');
        // a tag never loaded needs the database; a loaded one runs dry within its wait
        const unseen = await app.get('/health?biz_tag=other');
        expect(unseen.status).toBe(503);
        expect(unseen.headers.get('retry-after')).toMatch(/^[0-9]+$/);
        expect(unseen.body).toMatchObject({ errno: -1, left: 0 });
        let dry;
        for (let i = 0; i < 50 && dry === undefined; i++) {
          const res = await app.get('/alloc?biz_tag=test');
          if (res.status !== 200) dry = res;
        }
        expect(dry?.status).toBe(503);
        expect(dry?.headers.get('retry-after')).toMatch(/^[0-9]+$/);
        expect(dry?.body).toMatchObject({ errno: -1, id: 0 });
        expect(dry?.body.msg).toMatch(/^(SEGMENT_UNAVAILABLE|DATABASE_UNAVAILABLE): /);
      } finally {
        await proxy.set('pass');
        await app.close();
        await proxy.close();
        await conn.end();
        await db.drop();
      }
    }, 60_000);
  });
}
