import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from './support/app';
import { freePort, ServerProcess } from './support/process';

const tmp = () => mkdtempSync(join(tmpdir(), 'idalloc-proc-'));

describe('the built service as a process', () => {
  it("a newcomer's start: uuid, uuidv7, docs and readiness on the embedded default", async () => {
    const dir = tmp();
    // the README's command runs from the checkout; SQLITE_PATH's default is relative to it
    const server = await ServerProcess.start({ SQLITE_PATH: join(dir, 'data/id-allocator.sqlite') });
    try {
      const v4 = await request(`${server.url}/ids/uuid`);
      expect(v4.status).toBe(200);
      expect(v4.body.ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
      const v7 = await request(`${server.url}/ids/uuidv7?count=2`);
      expect(v7.body.ids[0] < v7.body.ids[1]).toBe(true);
      expect((await request(`${server.url}/docs`)).status).toBe(200);
      const ready = await request(`${server.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ok');
    } finally {
      const exit = await server.kill('SIGTERM');
      // a clean shutdown exits 0; the signal is not re-raised
      expect(exit).toEqual({ code: 0, signal: null });
    }
  });

  it('stops at start with one line naming a bad variable', async () => {
    const server = ServerProcess.spawn({ MAX_COUNT: 'lots', PORT: String(await freePort()) });
    const exit = await server.exited;
    expect(exit.code).toBe(2);
    expect(server.output.trim()).toBe(
      'id-allocator: invalid configuration: MAX_COUNT: must be an integer from 1 to 1000000 (got "lots" from environment)',
    );
  });

  it('reads --config FILE, and the environment overrides it', async () => {
    const dir = tmp();
    const file = join(dir, 'config.json');
    const [filePort, envPort] = [await freePort(), await freePort()];
    writeFileSync(file, JSON.stringify({ PORT: filePort, MAX_COUNT: 3, SQLITE_PATH: join(dir, 'ids.sqlite') }));
    const server = ServerProcess.spawn({ MAX_COUNT: '2' }, ['--config', file], filePort);
    try {
      await server.waitLive();
      expect((await request(`${server.url}/ids/uuid?count=2`)).status).toBe(200);
      expect((await request(`${server.url}/ids/uuid?count=3`)).body.code).toBe('INVALID_COUNT');
    } finally {
      await server.kill();
    }
    const overridden = ServerProcess.spawn({ PORT: String(envPort) }, ['--config', file], envPort);
    try {
      await overridden.waitLive();
      expect((await request(`${overridden.url}/ids/uuid?count=3`)).status).toBe(200);
    } finally {
      await overridden.kill();
    }
  });
});
