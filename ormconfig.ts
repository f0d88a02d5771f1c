import 'reflect-metadata';
import { loadConfig } from '@app/core';
import { dataSourceOptions, newDataSource } from '@app/database';

/**
 * The DataSource the TypeORM CLI uses (npm run migration:run / migration:show): the same
 * configuration, file and environment, as the service.
 */
// The CLI's own arguments are not ours: only a --config FILE / -config=FILE among them is.
const at = process.argv.findIndex((a) => /^--?config(=|$)/.test(a));
const argv = at === -1 ? [] : process.argv[at].includes('=') ? [process.argv[at]] : process.argv.slice(at, at + 2);

export default newDataSource(dataSourceOptions(loadConfig({ env: process.env, argv })));
