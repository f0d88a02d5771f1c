import type { LoggerService } from '@nestjs/common';
import pino, { Logger as Pino } from 'pino';
import type PinoPretty from 'pino-pretty';
import { AppConfig, secretForms } from '@app/core';

/**
 * Where a secret can ride along in a structured log line: request headers as pino-http
 * serialises them (the admin token on every admin request, an API token, a cookie), and any
 * object logged with the same shape. Redacted by pino itself, so every request logger built on
 * this root logger (the Nest middleware or a Fastify hook) is covered.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
];

/** Replaces every secret value in a string: the last line of defence for free text (driver errors, stacks). */
export function secretScrubber(config: AppConfig): (text: string) => string {
  const forms = secretForms(config);
  if (forms.length === 0) return (text) => text;
  return (text) => {
    for (const f of forms) if (text.includes(f)) text = text.split(f).join('***');
    return text;
  };
}

/** A string, or the string fields of a plain object (copied when one changes); the rest as is. */
function scrubArg(arg: unknown, scrub: (text: string) => string): unknown {
  if (typeof arg === 'string') return scrub(arg);
  if (arg === null || typeof arg !== 'object' || Object.getPrototypeOf(arg) !== Object.prototype) return arg;
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(arg)) {
    if (typeof v !== 'string') continue;
    const clean = scrub(v);
    if (clean !== v) (copy ??= { ...(arg as Record<string, unknown>) })[k] = clean;
  }
  return copy ?? arg;
}

export type LogFormat = 'pretty' | 'json';

/** LOG_FORMAT, else pretty on a terminal and JSON for anything that collects logs. */
export function logFormat(config: Pick<AppConfig, 'LOG_FORMAT'>, stream: { isTTY?: boolean } = process.stdout): LogFormat {
  return config.LOG_FORMAT ?? (stream.isTTY ? 'pretty' : 'json');
}

/**
 * The one pino logger of the process: level, redaction and format from the configuration.
 * Pretty output is pino-pretty in the same thread (synchronous), so the last line before an
 * exit is never lost.
 */
export function createRootLogger(config: AppConfig, bindings: Record<string, unknown> = {}): Pino {
  const scrub = secretScrubber(config);
  const format = logFormat(config);
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: (e: unknown) => {
        const s = pino.stdSerializers.err(e as Error) as unknown as Record<string, unknown>;
        if (typeof s.message === 'string') s.message = scrub(s.message);
        if (typeof s.stack === 'string') s.stack = scrub(s.stack);
        return s;
      },
    },
    hooks: {
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) args[i] = scrubArg(args[i], scrub);
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  };
  if (format === 'json') return pino(options, pino.destination({ fd: 1, sync: true }));
  // loaded only for pretty output: a JSON start does not pay for it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pretty = require('pino-pretty') as typeof PinoPretty;
  const stream = pretty({
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'hostname,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
    // a request line's fields on its own line, not 30 indented ones (an error's stack stays as is)
    singleLine: true,
    sync: true,
    destination: 1,
  });
  return pino(options, stream);
}

/**
 * Nest's own chatter: which module loaded, which route mapped, and the stack of a start-up
 * failure (main.ts prints that failure as one line). Useful when debugging, noise otherwise.
 */
const NEST_BOILERPLATE = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication', 'ExceptionHandler']);

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * Nest's logger (every `new Logger(context)` in the code) over the root pino logger: the
 * context becomes a field, an Error the `err` field, and Nest's boilerplate goes to debug.
 * Given to Nest before the first module loads, so nothing is printed another way.
 */
export class ServiceLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.call('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.call('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.call('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.call('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.call('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.call('fatal', message, params);
  }

  private call(level: Level, message: unknown, params: unknown[]): void {
    // Nest passes the context last; ExceptionHandler passes (message, stack, context)
    const context = params.length > 0 && typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    if (context !== undefined && NEST_BOILERPLATE.has(context) && (level === 'info' || level === 'error')) level = 'debug';
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = context === undefined ? {} : { context };
    const stack = params.find((p): p is string => typeof p === 'string' && /\n\s*at /.test(p));
    if (message instanceof Error) this.pino[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.pino[level]({ ...fields, ...message });
    else this.pino[level](stack === undefined ? fields : { ...fields, stack }, String(message));
  }
}
