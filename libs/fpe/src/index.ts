export * from './ff1';
export * from './id-permutation';
export * from './secret';
