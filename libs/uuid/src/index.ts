export * from './random-pool';
export * from './uuid-v4';
export * from './uuid-v7';
export * from './uuid.generators';
export * from './uuid.module';
