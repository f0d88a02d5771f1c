import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sqliteDatabase, TestDatabase } from './support/dialects';
import { ServerProcess } from './support/process';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** a program as another project would write it, against the installed package only */
const CONSUMER = `
import { IdClient, IdClientError, IdClientOptions } from '@id-allocator/client';

async function main(url: string): Promise<void> {
  const options: IdClientOptions = { baseUrls: [url], timeoutMs: 2000 };
  const client = new IdClient(options);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(client.tryNext('segment') ?? (await client.next('segment')));
  const uuids = await client.batch('uuid', 'default', 2);
  let code = '';
  try {
    await client.next('segment', 'no-such-key');
  } catch (e) {
    if (e instanceof IdClientError) code = e.code;
  }
  client.close();
  // @ts-expect-error: ids are strings, not numbers
  const wrong: number = ids[0];
  void wrong;
  // @ts-expect-error: baseUrls is required
  const incomplete: IdClientOptions = { timeoutMs: 1 };
  void incomplete;
  console.log(JSON.stringify({ ids, uuids, code }));
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

const ADMIN_TOKEN = 'client-package-admin-token-0123';

describe('the client as a package: packed, installed into an empty project, type-checked and used there', () => {
  let db: TestDatabase;
  let server: ServerProcess;

  beforeAll(async () => {
    db = await sqliteDatabase();
    server = await ServerProcess.start({ ...db.env, ADMIN_TOKEN });
    // the key the README's snippet asks for (made as its "A first key" makes it)
    const created = await fetch(`${server.url}/admin/segments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'orders', step: 1000 }),
    });
    expect(created.status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server.kill('SIGKILL');
    await db.drop();
  });

  it('npm pack makes a tarball without dependencies that an empty project installs offline, compiles against and runs', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'idalloc-client-pack-'));
    await run('npm', ['pack', '--pack-destination', scratch], { cwd: join(ROOT, 'libs/client') });
    const [tarball] = readdirSync(scratch).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^id-allocator-client-.*\.tgz$/);

    // vendored, as the client's README installs it: the lockfile's path lies inside the project
    const project = join(scratch, 'consumer');
    mkdirSync(join(project, 'vendor'), { recursive: true });
    copyFileSync(join(scratch, tarball), join(project, 'vendor', tarball));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', `./vendor/${tarball}`], { cwd: project });
    expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).dependencies).toEqual({ '@id-allocator/client': `file:vendor/${tarball}` });
    const installed = require(join(project, 'node_modules/@id-allocator/client/package.json'));
    expect(installed.dependencies ?? {}).toEqual({});
    expect(installed.types).toBe('dist/index.d.ts');

    writeFileSync(join(project, 'main.ts'), CONSUMER);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'commonjs',
          target: 'ES2022',
          outDir: 'out',
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
        },
        files: ['main.ts', 'readme.ts', 'readme-main.ts'],
      }),
    );
    // the README's snippets, as written: compiled with the consumer's program, run against the server
    const readme = readFileSync(join(ROOT, 'libs/client/README.md'), 'utf8');
    const snippet = (lang: string) => readme.match(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'm'))![1];
    writeFileSync(join(project, 'readme.ts'), snippet('ts'));
    writeFileSync(join(project, 'readme.js'), snippet('js'));
    // and the one on the repository's first page
    const front = readFileSync(join(ROOT, 'README.md'), 'utf8').match(/^```ts\n([\s\S]*?)^```$/m)![1];
    expect(front).toContain("from '@id-allocator/client'");
    writeFileSync(join(project, 'readme-main.ts'), front);
    await run(process.execPath, [TSC, '-p', project]); // fails on a type error, or an unused @ts-expect-error
    const env = { PATH: process.env.PATH ?? '', ID_URLS: server.url };
    const ts = await run(process.execPath, [join(project, 'out/readme.js')], { env });
    expect(ts.stdout).toMatch(/^[1-9][0-9]* [1-9][0-9]* 100\n$/);
    const js = await run(process.execPath, [join(project, 'readme.js')], { env, cwd: project });
    const first = await run(process.execPath, [join(project, 'out/readme-main.js')], { env });
    expect(first.stdout).toMatch(/^[1-9][0-9]*\n$/);
    expect(js.stdout).toMatch(/^[1-9][0-9]*\n$/);
    const { stdout } = await run(process.execPath, [join(project, 'out/main.js'), server.url]);
    const answer = JSON.parse(stdout);
    expect(new Set(answer.ids).size).toBe(5);
    for (const id of answer.ids) expect(id).toMatch(/^[1-9][0-9]*$/);
    expect(answer.uuids).toHaveLength(2);
    expect(answer.code).toBe('UNKNOWN_KEY');
  }, 120_000);
});
