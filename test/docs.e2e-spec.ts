import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { CONFIG_KEYS, configSchema, describeDatabase, ERROR_STATUS, loadConfig } from '@app/core';
import { readyLine } from '../apps/id-server/ready-line';

/*
 * The Markdown pages hold claims a newcomer acts on: links, defaults, error codes, routes, the
 * ready line. Each is read here against the code, so a change to one without the other fails.
 * No server: the routes come from the controllers' decorators.
 */

const ROOT = resolve(__dirname, '..');
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  'bench/README.md',
  'libs/client/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

const read = (page: string) => readFileSync(join(ROOT, page), 'utf8');

/** the text outside fenced code blocks (a `#` there is a shell comment, a `[x](y)` an example) */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const base = m[1]
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** the cells of a Markdown table's rows under the heading that starts with `heading` */
function tableRows(text: string, heading: string): string[][] {
  const start = text.search(new RegExp(`^#+ ${heading}`, 'm'));
  if (start === -1) throw new Error(`no heading "${heading}"`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true;
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim());
      if (!cells.every((c) => /^-+:?$/.test(c))) rows.push(cells);
    } else if (inTable || /^#/.test(line)) break;
  }
  return rows.slice(1); // without the header row
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

describe('relative links', () => {
  it.each(PAGES)('%s: every relative link names a file that exists, and a heading where it names one', (page) => {
    const links = [...prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
    expect(links.length).toBeGreaterThan(0);
    const broken: string[] = [];
    for (const link of links) {
      const [path, anchor] = link.split('#');
      const target = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path);
      if (!existsSync(target)) broken.push(`${link}: no file ${relative(ROOT, target)}`);
      else if (anchor !== undefined && !anchors(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link}: no heading #${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  it('the README links every page of docs/, the pages others are writing (availability, simulation) included', () => {
    const readme = read('README.md');
    for (const page of PAGES.filter((p) => p.startsWith('docs/'))) expect(readme).toContain(`](${page})`);
    expect(readme).toContain('](docs/availability.md)');
    expect(readme).toContain('](docs/simulation.md)');
  });

  it('the README stays a first page: at most ~200 lines, every section in its table of contents', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
    const toc = new Set([...readme.matchAll(/^- \[[^\]]+\]\(#([^)]+)\)$/gm)].map((m) => m[1]));
    const sections = [...anchors(readme)].filter((a) => a !== 'id-allocator');
    expect(sections.length).toBeGreaterThan(5);
    expect(sections.filter((s) => !toc.has(s))).toEqual([]);
  });
});

describe('claims checked against the code', () => {
  const defaults = configSchema.parse({}) as Record<string, unknown>;

  /** settings whose default the table explains in words rather than as a value */
  const DEFAULTS_IN_WORDS: Record<string, RegExp> = {
    DB_TYPE: /^inferred$/, // from DATABASE_URL
    LOG_FORMAT: /^`pretty` on a terminal, else `json`$/,
    PARTITION_SEGMENT_SIZE: /^recorded, else `100000`$/, // the recorded layout's, 100,000 for a new one
    SNOWFLAKE_WORKER_IDS: /^all$/, // all the layout allows
  };

  it('docs/configuration.md: every setting in the table, with its default as config.schema.ts has it', () => {
    const rows = tableRows(read('docs/configuration.md'), 'Variables');
    const documented = new Map<string, string>();
    for (const [names, dflt] of rows) {
      const keys = codeSpans(names);
      const values = keys.length > 1 ? dflt.split(' / ') : [dflt];
      expect(values).toHaveLength(keys.length);
      keys.forEach((k, i) => documented.set(k, values[i].trim()));
    }
    const configKeys = CONFIG_KEYS;
    expect([...documented.keys()].sort()).toEqual([...configKeys].sort());
    const wrong: string[] = [];
    for (const [key, doc] of documented) {
      const value = defaults[key];
      if (key in DEFAULTS_IN_WORDS) {
        if (!DEFAULTS_IN_WORDS[key].test(doc) || value !== undefined) wrong.push(`${key}: ${doc}`);
      } else if (value === undefined ? doc !== '' : doc !== `\`${String(value)}\``) {
        wrong.push(`${key}: documented ${doc || '(none)'}, code ${String(value)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every "`SETTING` (default N)" in the pages is the code default', () => {
    const claims = PAGES.flatMap((page) => [...read(page).matchAll(/`([A-Z][A-Z0-9_]+)`\s+\(default ([^),;]+)/g)].map((m) => ({ page, key: m[1], value: m[2] })));
    expect(claims.map((c) => c.key)).toContain('MAX_COUNT');
    for (const c of claims) expect({ ...c, value: c.value.replace(/[,`]/g, '') }).toEqual({ ...c, value: String(defaults[c.key]) });
  });

  it('docs/api.md: the error table names every code in errors.ts with its status, and no other', () => {
    const documented = new Map<string, number>();
    for (const [codes, status] of tableRows(read('docs/api.md'), 'Errors')) {
      const names = codes.split(/\s*(?:,|\/)\s*/);
      const statuses = status.split(/\s*\/\s*/).map(Number);
      names.forEach((n, i) => documented.set(n, statuses[statuses.length === names.length ? i : 0]));
    }
    expect(Object.fromEntries(documented)).toEqual({ ...ERROR_STATUS });
  });

  /** METHOD /path of every Nest controller route, params as `:p` */
  function codeRoutes(): Set<string> {
    const routes = new Set<string>();
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.controller.ts') ? [join(dir, e.name)] : []));
    for (const file of files(join(ROOT, 'apps/id-server'))) {
      // a @Controller() or @Get() without a path is the prefix or the controller's root
      // a file may hold several controllers: each route belongs to the @Controller above it
      let prefix = '';
      for (const m of readFileSync(file, 'utf8').matchAll(/@(Controller|Get|Post|Patch|Put|Delete)\((?:'([^']*)')?\)/g)) {
        if (m[1] === 'Controller') prefix = m[2] ?? '';
        else routes.add(`${m[1].toUpperCase()} /${[prefix, m[2] ?? ''].filter((s) => s !== '').join('/')}`);
      }
    }
    return routes;
  }
  const normalise = (route: string) => route.replace(/\?.*$/, '').replace(/:[A-Za-z]+/g, ':p');

  it('docs/api.md: the route table names every route the controllers declare, and no route they lack', () => {
    const documented = new Set(tableRows(read('docs/api.md'), 'Routes').flatMap(([cell]) => codeSpans(cell).map(normalise)));
    const declared = new Set([...codeRoutes()].map(normalise));
    // Swagger's pages, set up in bootstrap.ts rather than by a controller
    for (const r of ['GET /docs', 'GET /docs-json']) declared.add(r);
    expect(declared.size).toBeGreaterThan(15);
    expect([...documented].filter((r) => !declared.has(r))).toEqual([]);
    expect([...declared].filter((r) => !documented.has(r))).toEqual([]);
  });

  it("the README's ready line is the one main.ts prints on the defaults", () => {
    const quoted = read('README.md').match(/^\[[^\]]+\] INFO \(\d+\): (.*listening on.*)$/m);
    expect(quoted).not.toBeNull();
    const config = loadConfig({ env: {} });
    expect(quoted![1]).toBe(readyLine(`http://localhost:${config.PORT}`, `${config.HOST}:${config.PORT}`, describeDatabase(config)));
  });
});
