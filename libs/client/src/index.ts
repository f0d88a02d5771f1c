export * from './id-client';
export * from './id-client-error';
