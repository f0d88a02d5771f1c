export * from './data-source-options';
export * from './database.module';
export * from './migrations';
export * from './run-migrations';
export * from './mysql-pool';
export * from './sqlite-handle';
export * from './id-secret';
export * from './startup-check';
