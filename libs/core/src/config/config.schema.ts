import { z } from 'zod';
import { autoWorkers } from './cpu-quota';

/*
 * Every setting of DESIGN.md's "Configuration", validated once at start. Values arrive as strings
 * (environment) or JSON values (config file); each parser accepts both and says in one line what
 * it expected.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function int(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }),
  );
}

function fraction() {
  const message = 'must be a number greater than 0 and less than 1';
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v),
    z.number({ error: message }).gt(0, { error: message }).lt(1, { error: message }),
  );
}

function bool() {
  const message = 'must be true or false';
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    return v;
  }, z.boolean({ error: message }));
}

function json<T extends z.ZodType>(inner: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return Symbol.for('invalid-json');
    }
  }, inner);
}

const partitionSchema = z
  .object({
    idx: int(1, 1024),
    total: int(1, 1024),
    url: z
      .string({ error: 'url must be a mysql:// or postgres:// URL' })
      .regex(/^(mysql|mariadb|postgres|postgresql):\/\//, { error: 'url must be a mysql:// or postgres:// URL' }),
  }, { error: 'must be a JSON list of {"idx","total","url"}' })
  .strict();

const baseSchema = z
  .object({
    PORT: int(0, 65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    DB_TYPE: z.enum(['sqlite', 'mysql', 'postgres'], { error: 'must be sqlite, mysql or postgres' }).optional(),
    SQLITE_PATH: z.string().min(1).default('./data/id-allocator.sqlite'),
    DATABASE_URL: z
      .string()
      .regex(/^(mysql|mariadb|postgres|postgresql):\/\/[^/]+\/[^/?]+/, {
        error: 'must look like mysql://user:pass@host:3306/db (MySQL, MariaDB) or postgres://user:pass@host:5432/db (PostgreSQL)',
      })
      .optional(),
    ADMIN_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
    /** bearer token for the per-key series of public keys on /metrics; without it they are left out */
    METRICS_TOKEN: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
    LOG_FORMAT: z.enum(['pretty', 'json'], { error: 'must be pretty or json' }).optional(),
    LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    MAX_COUNT: int(1, 1_000_000).default(10_000),
    /** per-key series on /metrics only for this many busiest segment keys (plus keys down or past half their space) */
    METRICS_TOP_KEYS: int(0, 100_000).default(50),
    /** `auto`: os.availableParallelism() capped by the cgroup CPU quota (see autoWorkers) */
    WORKERS: z.preprocess((v) => (typeof v === 'string' && v.trim().toLowerCase() === 'auto' ? autoWorkers() : v), int(1, 64)).default(1),
    PARTITIONS: json(
      z
        .array(partitionSchema, { error: 'must be a JSON list of {"idx","total","url"}' })
        .refine((list) => list.every((p) => p.idx <= p.total), { error: 'each idx must be <= its total' })
        .refine((list) => list.every((p) => p.total === list[0].total), { error: 'every partition must name the same total' }),
    ).optional(),
    /** ids per partition segment (go-id-alloc's SegmentSize); unset: the recorded layout's, 100,000 for a new one */
    PARTITION_SEGMENT_SIZE: int(1, 100_000_000).optional(),
    /** record the configured layout for partition tables that hold allocations but no layout (upgrades, go-id-alloc v1) */
    PARTITION_ADOPT_LAYOUT: bool().default(false),
    /** the segment table: leaf_alloc (Leaf's), segments (go-id-alloc's current version), or another of that shape */
    SEGMENT_TABLE: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { error: 'must be a table name (letters, digits, _; up to 64), e.g. leaf_alloc or segments' })
      .default('leaf_alloc'),
    SEGMENT_PRELOAD: fraction().default(0.1),
    SEGMENT_WAIT_MS: int(1, 600_000).default(2000),
    SEGMENT_STEP_MAX: int(1, 100_000_000).default(1_000_000),
    SEGMENT_DYNAMIC_STEP: bool().default(true),
    /** how often each instance reads the keys it serves (skips, steps, public flags, max_id) */
    SEGMENT_POLL_MS: int(50, 60_000).default(1000),
    /**
     * added to this instance's clock where a business-number format picks its period (issue 30):
     * for tests and drills that step clocks across a midnight; 0 in production
     */
    FORMAT_CLOCK_OFFSET_MS: int(-3_153_600_000_000, 3_153_600_000_000).default(0),
    /** how long POST /ids/:strategy remembers an Idempotency-Key's answer (1 s to 30 days) */
    IDEMPOTENCY_TTL_MS: int(1000, 2_592_000_000).default(86_400_000),
    /** requests that may wait for ids of one key at once; one more is answered 503 at once */
    SEGMENT_MAX_WAITERS: int(1, 1_000_000).default(10_000),
    SNOWFLAKE_BITS: z
      .string()
      .regex(/^\s*\d+\s*,\s*\d+\s*,\s*\d+\s*$/, { error: 'must be three widths "time,worker,sequence", e.g. 41,10,12' })
      .default('41,10,12'),
    SNOWFLAKE_EPOCH: z
      .string()
      .refine((s) => (/^\d+$/.test(s) ? true : !Number.isNaN(Date.parse(s))), { error: 'must be an ISO date or milliseconds' })
      .default('2025-01-01T00:00:00Z'),
    SNOWFLAKE_WORKER_ID: z
      .string()
      .regex(/^(lease|ordinal|\d+)$/, { error: 'must be lease, ordinal or a number' })
      .default('lease'),
    SNOWFLAKE_WORKER_IDS: z
      .string()
      .regex(/^\s*\d+\s*(-\s*\d+\s*)?$/, { error: 'must be a range like 0-1023' })
      .optional(),
    SNOWFLAKE_LEASE_MS: int(500, 600_000).default(3000),
    SNOWFLAKE_RENEW_MS: int(100, 300_000).default(1000),
    /** how far ahead of the clock a renewal reserves: the holder issues that long without the database */
    SNOWFLAKE_RESERVE_MS: int(200, 3_600_000).default(30_000),
    /** bound on the clock difference between instances (a takeover waits reserve + this) */
    SNOWFLAKE_MAX_SKEW_MS: int(0, 600_000).default(1000),
    SNOWFLAKE_START_WAIT_MS: int(0, 3_600_000).default(60_000),
    SNOWFLAKE_MAX_BACKWARD_MS: int(0, 1000).default(5),
    SNOWFLAKE_PERMUTE: bool().default(false),
    ID_SECRET: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
    /**
     * after the first SIGTERM: readiness fails at once while the instance keeps serving this long,
     * every answer closing its connection, so balancers stop sending before it stops listening.
     * Size it to the balancer's check interval x fall count + one check's timeout + margin
     * (haproxy 500 ms x 3 = 1.5 s: 2 s); 0: close at once (docs/availability.md)
     */
    SHUTDOWN_DRAIN_MS: int(0, 600_000).default(2000),
    /** the close after the drain (stop listening, finish in flight, release leases); past it exit 1 */
    SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
    /** tokens for the id routes, each optionally limited to some keys (as Tinyid does); off when unset */
    API_TOKENS: json(
      z.array(
        z
          .object({
            token: z.string().min(16, { error: 'each token must be at least 16 characters' }),
            keys: z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, { error: 'keys must be valid key names' })).optional(),
          })
          .strict(),
        { error: 'must be a JSON list of {"token","keys"?}' },
      ),
    ).optional(),
    /** time to receive a whole request (go-id-alloc's HttpReadTimeout) */
    HTTP_READ_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
    /** a connection whose answers stop leaving is closed after this (go-id-alloc's HttpWriteTimeout; see WriteStallGuard) */
    HTTP_WRITE_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
  })
  .strict();

export const CONFIG_KEYS: readonly string[] = Object.keys(baseSchema.shape);

export const configSchema = baseSchema.superRefine((c, ctx) => {
    if ((c.DB_TYPE === 'mysql' || c.DB_TYPE === 'postgres') && !c.DATABASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: `is required when DB_TYPE=${c.DB_TYPE}` });
    }
    if (c.DATABASE_URL && c.DB_TYPE !== undefined && c.DB_TYPE !== 'sqlite' && urlDbType(c.DATABASE_URL) !== c.DB_TYPE) {
      ctx.addIssue({ code: 'custom', path: ['DB_TYPE'], message: `is ${c.DB_TYPE} but DATABASE_URL names a ${urlDbType(c.DATABASE_URL)} database` });
    }
    if (c.SNOWFLAKE_RENEW_MS * 2 > c.SNOWFLAKE_LEASE_MS) {
      ctx.addIssue({ code: 'custom', path: ['SNOWFLAKE_RENEW_MS'], message: 'must be at most half of SNOWFLAKE_LEASE_MS' });
    }
    if (c.SNOWFLAKE_RENEW_MS * 2 > c.SNOWFLAKE_RESERVE_MS) {
      ctx.addIssue({ code: 'custom', path: ['SNOWFLAKE_RESERVE_MS'], message: 'must be at least twice SNOWFLAKE_RENEW_MS' });
    }
    if (c.SNOWFLAKE_START_WAIT_MS <= c.SNOWFLAKE_RESERVE_MS + c.SNOWFLAKE_MAX_SKEW_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SNOWFLAKE_START_WAIT_MS'],
        message: `must exceed SNOWFLAKE_RESERVE_MS + SNOWFLAKE_MAX_SKEW_MS (${c.SNOWFLAKE_RESERVE_MS + c.SNOWFLAKE_MAX_SKEW_MS}): taking over a lapsed worker id waits that long`,
      });
    }
    const widths = c.SNOWFLAKE_BITS.split(',').map((s) => Number(s.trim()));
    if (widths.reduce((a, b) => a + b, 0) !== 63) {
      ctx.addIssue({ code: 'custom', path: ['SNOWFLAKE_BITS'], message: 'the three widths must sum to 63' });
    }
    if (c.SNOWFLAKE_WORKER_ID !== 'lease' && c.WORKERS > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['SNOWFLAKE_WORKER_ID'],
        message: `a static or ordinal worker id cannot be shared by WORKERS=${c.WORKERS} processes (they would repeat ids); use lease`,
      });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;

/** The validated configuration; DB_TYPE is always resolved. */
export type AppConfig = Omit<Parsed, 'DB_TYPE'> & { DB_TYPE: DbType };

export type DbType = 'sqlite' | 'mysql' | 'postgres';

/** The server a database URL names: mysql:// and mariadb:// are MySQL's protocol, postgres:// and postgresql:// PostgreSQL's. */
export function urlDbType(url: string): 'mysql' | 'postgres' {
  return /^postgres(ql)?:/i.test(url) ? 'postgres' : 'mysql';
}

