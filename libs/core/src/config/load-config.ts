import { readFileSync } from 'node:fs';
import { AppConfig, CONFIG_KEYS, configSchema, urlDbType } from './config.schema';

import { translateAllocJson } from './alloc-json';
import { ConfigError } from './config-error';
import { SECRET_SETTINGS } from './secrets';

export { ConfigError };

export interface ConfigSources {
  env: Record<string, string | undefined>;
  /** the command-line arguments after the script (process.argv.slice(2)) */
  argv?: readonly string[];
  readFile?: (path: string) => string;
  /** told of settings read but not used (unknown alloc.json keys, mistyped variables); one line each */
  warn?: (line: string) => void;
}

const CONFIG_FLAGS = ['-config', '--config'];
const USAGE = 'the only argument is the config file: --config FILE (also -config FILE, --config=FILE, -config=FILE)';

/**
 * The command line: `--config FILE` / `--config=FILE`, and go-id-alloc's one-dash `-config FILE`
 * / `-config=FILE` (Go's flag package). Anything else is refused, so a typo cannot start the
 * service silently on defaults.
 */
export function parseCommandLine(argv: readonly string[]): { configFile?: string } {
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (!CONFIG_FLAGS.includes(flag)) throw new ConfigError(`argument ${JSON.stringify(arg)}: not understood; ${USAGE}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new ConfigError(`${flag}: needs a file path`);
    if (configFile !== undefined) throw new ConfigError(`${flag}: given twice; ${USAGE}`);
    configFile = value;
  }
  return { configFile };
}

/**
 * The config file: from the command line, else CONFIG_FILE. A bare start reads no file (not even
 * ./alloc.json, which go-id-alloc would): the defaults are the embedded database.
 */
export function configFilePath(sources: ConfigSources): string | undefined {
  const { configFile } = parseCommandLine(sources.argv ?? []);
  if (configFile !== undefined) return configFile;
  const fromEnv = sources.env.CONFIG_FILE;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Hooks that turn another product's config file (go-id-alloc's alloc.json) into our names. */
export type ConfigFileTranslator = (
  file: Record<string, unknown>,
  path: string,
  warn: (line: string) => void,
) => Record<string, unknown> | undefined;
const translators: ConfigFileTranslator[] = [translateAllocJson];
export function registerConfigFileTranslator(t: ConfigFileTranslator): void {
  translators.push(t);
}

function readConfigFile(path: string, sources: ConfigSources): Record<string, unknown> {
  let text: string;
  try {
    text = (sources.readFile ?? ((p) => readFileSync(p, 'utf8')))(path);
  } catch (e) {
    throw new ConfigError(`config file ${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must be a JSON object of settings`);
  }
  for (const translate of translators) {
    const translated = translate(parsed as Record<string, unknown>, path, sources.warn ?? (() => undefined));
    if (translated) return translated;
  }
  return parsed as Record<string, unknown>;
}

/**
 * The prefixes of our settings' names (SEGMENT_, SNOWFLAKE_, HTTP_, ...): a variable that has one
 * and is no setting is most likely a mistyped setting, which would otherwise be ignored silently.
 */
const OUR_PREFIXES = [...new Set(CONFIG_KEYS.filter((k) => k.includes('_')).map((k) => k.slice(0, k.indexOf('_') + 1)))];
/** variables with one of those prefixes that other programs read */
const NOT_OURS = new Set(['HTTP_PROXY']);

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** one line per variable that looks like a setting and is none, naming the nearest setting */
export function unknownVariables(env: Record<string, string | undefined>): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (CONFIG_KEYS.includes(name) || NOT_OURS.has(name)) continue;
    if (!OUR_PREFIXES.some((p) => name.startsWith(p))) continue;
    const nearest = CONFIG_KEYS.reduce((best, k) => (editDistance(name, k) < editDistance(name, best) ? k : best));
    lines.push(`${name} is not a setting and is ignored; did you mean ${nearest}? (settings: docs/configuration.md)`);
  }
  return lines;
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Settings from the environment (only when set), then the config file, then the defaults.
 * Throws ConfigError with one line naming the first bad setting.
 */
export function loadConfig(sources: ConfigSources): AppConfig {
  const path = configFilePath(sources);
  const fromFile = path === undefined ? {} : readConfigFile(path, sources);
  for (const key of Object.keys(fromFile)) {
    if (!CONFIG_KEYS.includes(key)) {
      throw new ConfigError(`${key}: not a setting (config file ${path}); settings: ${CONFIG_KEYS.join(', ')}`);
    }
  }
  const merged: Record<string, unknown> = { ...fromFile };
  for (const key of CONFIG_KEYS) {
    const value = sources.env[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue.path[0] ?? 'config');
    const given = merged[name];
    const origin = sources.env[name] !== undefined && sources.env[name] !== '' ? 'environment' : path ? `config file ${path}` : 'default';
    // a secret's value is never echoed, not even a wrong one (it may be the right one mistyped)
    const got = SECRET_SETTINGS.has(name) ? 'value not shown,' : `got ${describe(given)}`;
    throw new ConfigError(`${name}: ${issue.message}${given === undefined ? '' : ` (${got} from ${origin})`}`);
  }
  const parsed = result.data;
  for (const line of unknownVariables(sources.env)) sources.warn?.(line);
  const DB_TYPE = parsed.DB_TYPE ?? (parsed.DATABASE_URL ? urlDbType(parsed.DATABASE_URL) : 'sqlite');
  return { ...parsed, DB_TYPE };
}
