import 'reflect-metadata';
import { loadConfig } from '@app/core';
import { dataSourceOptions } from '@app/database';
import { DataSource } from 'typeorm';

/**
 * The DataSource the TypeORM CLI uses (npm run migration:run / migration:show): the same
 * configuration, file and environment, as the service.
 */
export default new DataSource(dataSourceOptions(loadConfig({ env: process.env, argv: process.argv })));
