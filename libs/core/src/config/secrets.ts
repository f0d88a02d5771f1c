import type { AppConfig } from './config.schema';

/**
 * Settings whose values must never reach a log line, an error body or an unauthenticated answer.
 * DATABASE_URL and PARTITIONS are shown with their passwords masked; the others not at all.
 */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set([
  'ADMIN_TOKEN',
  'API_TOKENS',
  'ID_SECRET',
  'METRICS_TOKEN',
  'DATABASE_URL',
  'PARTITIONS',
]);

const MASK = '***';

interface UrlParts {
  scheme: string;
  user?: string;
  /** as written in the URL (percent-encoded) */
  password?: string;
  /** from the `@` on: hosts, path and query */
  rest: string;
}

/** The credentials end at the last `@` before the path, as a password may hold `@` itself. */
function splitUrl(url: string): UrlParts | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)(.*)$/i.exec(url);
  if (m === null) return null;
  const [, scheme, authority, path] = m;
  const at = authority.lastIndexOf('@');
  if (at === -1) return { scheme, rest: authority + path };
  const credentials = authority.slice(0, at);
  const colon = credentials.indexOf(':');
  return {
    scheme,
    user: colon === -1 ? credentials : credentials.slice(0, colon),
    password: colon === -1 ? undefined : credentials.slice(colon + 1),
    rest: authority.slice(at) + path,
  };
}

/** A database URL with its password replaced by `***`: `mysql://app:***@h1:3306,h2:3306/ids`. */
export function maskUrl(url: string): string {
  const parts = splitUrl(url);
  if (parts === null) return MASK;
  // a password in the query string (?password=...) is masked too
  const rest = parts.rest.replace(/([?&](?:password|pass|pwd)=)[^&]*/gi, `$1${MASK}`);
  return `${parts.scheme}${parts.user ?? ''}${parts.password === undefined ? '' : `:${MASK}`}${rest}`;
}

function urlPasswords(url: string): string[] {
  const parts = splitUrl(url);
  const found = [...(parts?.rest.matchAll(/[?&](?:password|pass|pwd)=([^&]*)/gi) ?? [])].map((m) => m[1]);
  if (parts?.password) found.push(parts.password);
  return found.flatMap((raw) => {
    try {
      return [raw, decodeURIComponent(raw)];
    } catch {
      return [raw];
    }
  });
}

/**
 * Every secret value of this configuration, each as written, URL-encoded and base64, longest
 * first (so a secret that contains another is replaced whole): what a log must never contain.
 */
export function secretForms(config: AppConfig): string[] {
  const values: string[] = [];
  for (const v of [config.ADMIN_TOKEN, config.METRICS_TOKEN, config.ID_SECRET]) if (v) values.push(v);
  for (const t of config.API_TOKENS ?? []) values.push(t.token);
  for (const url of [config.DATABASE_URL, ...(config.PARTITIONS ?? []).map((p) => p.url)]) {
    if (url !== undefined) values.push(...urlPasswords(url));
  }
  const forms = new Set<string>();
  for (const v of values) {
    forms.add(v);
    forms.add(encodeURIComponent(v));
    forms.add(Buffer.from(v).toString('base64'));
  }
  return [...forms].filter((f) => f.length >= 4).sort((a, b) => b.length - a.length);
}

/** The effective settings as an operator may see them: tokens as "(set)", URLs masked. */
export function redactedSettings(config: AppConfig): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    if (!SECRET_SETTINGS.has(name) || value === undefined) settings[name] = value;
    else if (name === 'DATABASE_URL') settings[name] = maskUrl(String(value));
    else if (name === 'PARTITIONS') {
      settings[name] = (value as AppConfig['PARTITIONS'])!.map((p) => ({ ...p, url: maskUrl(p.url) }));
    } else settings[name] = '(set)';
  }
  return settings;
}

/** Where the service keeps its ids, for the start line: the SQLite file or the masked URL. */
export function describeDatabase(config: AppConfig): string {
  return config.DB_TYPE === 'sqlite' ? `sqlite ${config.SQLITE_PATH}` : `${config.DB_TYPE} ${maskUrl(config.DATABASE_URL ?? '')}`;
}
