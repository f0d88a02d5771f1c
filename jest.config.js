/** Unit specs live beside the code (libs/, apps/); e2e, multi-process and fault tests in test/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test', '<rootDir>/sim'],
  testRegex: '\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleNameMapper: {
    '^@app/(core|database|uuid|segment|snowflake|fpe|client)(|/.*)$': '<rootDir>/libs/$1/src$2',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  setupFilesAfterEnv: ['<rootDir>/test/support/setup-file.ts'],
  // the last net under a leaked handle: setup-file.ts kills leftover children, and a run that
  // still has something open ends rather than waiting out CI's time limit
  forceExit: true,
  testTimeout: 60000,
};
