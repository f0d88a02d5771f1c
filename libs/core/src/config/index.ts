export * from './config.schema';
export * from './load-config';
export * from './alloc-json';
export * from './config-error';
export * from './secrets';
