import { loadConfig } from './load-config';
import { maskUrl, redactedSettings, secretForms } from './secrets';

describe('secrets in settings', () => {
  it('masks the password of a URL, multi-host and with @ inside the password included', () => {
    expect(maskUrl('mysql://app:s3cret@db:3306/ids')).toBe('mysql://app:***@db:3306/ids');
    expect(maskUrl('mysql://app:p@ss@h1:3306,h2:3306/ids')).toBe('mysql://app:***@h1:3306,h2:3306/ids');
    expect(maskUrl('mysql://root@127.0.0.1:3306/ids')).toBe('mysql://root@127.0.0.1:3306/ids');
    expect(maskUrl('mysql://db/ids?password=hunter22&x=1')).toBe('mysql://db/ids?password=***&x=1');
    expect(maskUrl('not a url')).toBe('***');
  });

  it('shows every secret setting as (set) or masked, never in clear', () => {
    const config = loadConfig({
      env: {
        ADMIN_TOKEN: 'admin-token-0123456789',
        METRICS_TOKEN: 'metrics-token-0123456789',
        ID_SECRET: 'id-secret-0123456789',
        API_TOKENS: JSON.stringify([{ token: 'api-token-0123456789' }]),
        DATABASE_URL: 'mysql://app:db-password-1@db:3306/ids',
        PARTITIONS: JSON.stringify([{ idx: 1, total: 1, url: 'mysql://app:part-password-1@p1:3306/ids' }]),
      },
    });
    const text = JSON.stringify(redactedSettings(config));
    for (const secret of ['admin-token-0123456789', 'metrics-token-0123456789', 'id-secret-0123456789', 'api-token-0123456789', 'db-password-1', 'part-password-1']) {
      expect(text).not.toContain(secret);
    }
    expect(redactedSettings(config)).toMatchObject({
      ADMIN_TOKEN: '(set)',
      API_TOKENS: '(set)',
      DATABASE_URL: 'mysql://app:***@db:3306/ids',
      PARTITIONS: [{ idx: 1, total: 1, url: 'mysql://app:***@p1:3306/ids' }],
    });
  });

  it('never echoes the value of a bad secret setting', () => {
    const message = (env: Record<string, string>) => {
      try {
        loadConfig({ env });
        return 'loaded';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(message({ ADMIN_TOKEN: 'short-secret' })).toBe('ADMIN_TOKEN: must be at least 16 characters (value not shown, from environment)');
    expect(message({ DATABASE_URL: 'mysql://app:pw-in-clear-99' })).not.toContain('pw-in-clear-99');
    expect(message({ API_TOKENS: '[{"token":"tok-in-clear-99"}]' })).not.toContain('tok-in-clear-99');
    expect(message({ PARTITIONS: '[{"idx":1,"total":1,"url":"postgres://u:pw-in-clear-98@h/db"}]' })).not.toContain('pw-in-clear-98');
  });
});

describe('secretForms', () => {
  it('lists each secret plain, URL-encoded and base64, passwords of URLs decoded', () => {
    const config = loadConfig({
      env: { ADMIN_TOKEN: 'admin/token+0123456789', DATABASE_URL: 'mysql://app:p%40ss%2Fword@db:3306/ids' },
    });
    const forms = secretForms(config);
    expect(forms).toEqual(
      expect.arrayContaining([
        'admin/token+0123456789',
        encodeURIComponent('admin/token+0123456789'),
        Buffer.from('admin/token+0123456789').toString('base64'),
        'p@ss/word',
        'p%40ss%2Fword',
        Buffer.from('p@ss/word').toString('base64'),
      ]),
    );
  });
});
