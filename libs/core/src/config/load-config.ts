import { readFileSync } from 'node:fs';
import { AppConfig, CONFIG_KEYS, configSchema } from './config.schema';

import { translateAllocJson } from './alloc-json';
import { ConfigError } from './config-error';
import { SECRET_SETTINGS } from './secrets';

export { ConfigError };

export interface ConfigSources {
  env: Record<string, string | undefined>;
  argv?: readonly string[];
  readFile?: (path: string) => string;
}

/** `--config FILE` / `--config=FILE` on the command line, else CONFIG_FILE. */
export function configFilePath(sources: ConfigSources): string | undefined {
  const argv = sources.argv ?? [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') {
      if (argv[i + 1] === undefined) throw new ConfigError('--config: needs a file path');
      return argv[i + 1];
    }
    if (argv[i].startsWith('--config=')) return argv[i].slice('--config='.length);
  }
  const fromEnv = sources.env.CONFIG_FILE;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** Hooks that turn another product's config file (go-id-alloc's alloc.json) into our names. */
export type ConfigFileTranslator = (file: Record<string, unknown>, path: string) => Record<string, unknown> | undefined;
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
    const translated = translate(parsed as Record<string, unknown>, path);
    if (translated) return translated;
  }
  return parsed as Record<string, unknown>;
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
  const DB_TYPE = parsed.DB_TYPE ?? (parsed.DATABASE_URL ? 'mysql' : 'sqlite');
  return { ...parsed, DB_TYPE };
}
