import { ConfigError, loadConfig } from '@app/core';
import { SnowflakeLayout } from './snowflake-layout';
import { snowflakeLayout, workerIdSetting } from './snowflake.settings';

const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');
const base = { SNOWFLAKE_WORKER_ID: 'lease', SNOWFLAKE_WORKER_IDS: undefined as string | undefined, WORKERS: 1 };

describe('snowflake settings', () => {
  it('lease takes the whole worker field by default, or SNOWFLAKE_WORKER_IDS', () => {
    expect(workerIdSetting(base, layout, 'h')).toEqual({ mode: 'lease', from: 0, to: 1023 });
    expect(workerIdSetting({ ...base, SNOWFLAKE_WORKER_IDS: '10-12' }, layout, 'h')).toEqual({ mode: 'lease', from: 10, to: 12 });
    expect(workerIdSetting({ ...base, SNOWFLAKE_WORKER_IDS: '7' }, layout, 'h')).toEqual({ mode: 'lease', from: 7, to: 7 });
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_IDS: '0-1024' }, layout, 'h')).toThrow(/goes past 1023/);
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_IDS: '5-2' }, layout, 'h')).toThrow(/is empty/);
  });

  it('a static id, or the ordinal of the host name', () => {
    expect(workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: '17' }, layout, 'h')).toEqual({ mode: 'static', workerId: 17 });
    expect(workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: 'ordinal' }, layout, 'ids-server-3')).toEqual({ mode: 'ordinal', workerId: 3 });
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: 'ordinal' }, layout, 'laptop')).toThrow(/does not end in -<number>/);
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: '1024' }, layout, 'h')).toThrow(/above 1023/);
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: 'ordinal' }, layout, 'ids-2000')).toThrow(/above 1023/);
  });

  it('refuses a static or ordinal id with WORKERS > 1, at config time and here', () => {
    expect(() => workerIdSetting({ ...base, SNOWFLAKE_WORKER_ID: '3', WORKERS: 2 }, layout, 'h')).toThrow(/cannot serve WORKERS=2/);
    const load = (env: Record<string, string>) => () => loadConfig({ env });
    expect(load({ SNOWFLAKE_WORKER_ID: '3', WORKERS: '2' })).toThrow(ConfigError);
    expect(load({ SNOWFLAKE_WORKER_ID: '3', WORKERS: '2' })).toThrow(/^SNOWFLAKE_WORKER_ID: a static or ordinal worker id cannot be shared by WORKERS=2/);
    expect(load({ SNOWFLAKE_WORKER_ID: 'ordinal', WORKERS: '4' })).toThrow(/^SNOWFLAKE_WORKER_ID: /);
    expect(load({ SNOWFLAKE_WORKER_ID: 'lease', WORKERS: '4' })).not.toThrow();
    expect(load({ SNOWFLAKE_WORKER_ID: '3', WORKERS: '1' })).not.toThrow();
  });

  it('checks the bit sum in the configuration, and the end of life at start', () => {
    expect(() => loadConfig({ env: { SNOWFLAKE_BITS: '41,10,10' } })).toThrow(/^SNOWFLAKE_BITS: the three widths must sum to 63/);
    const config = { SNOWFLAKE_BITS: '35,16,12', SNOWFLAKE_EPOCH: '2020-01-01T00:00:00Z' };
    expect(() => snowflakeLayout(config, Date.parse('2026-01-01T00:00:00Z'))).toThrow(/ran out on 2021-02-01/);
    expect(snowflakeLayout(config, Date.parse('2020-06-01T00:00:00Z')).lastValidMs).toBe(Date.parse('2020-01-01T00:00:00Z') + 2 ** 35 - 1);
  });
});
