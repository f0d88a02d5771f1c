export * from './id-client';
