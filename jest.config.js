/**
 * Jest runs the TypeScript sources as ESM; `tsc --noEmit` type-checks them separately (npm test).
 * SWC only strips the types, as Node does when it runs the sources: on a fresh checkout (CI) it
 * transforms the suite in a fraction of ts-jest's time, which builds a TypeScript program per worker.
 */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // examples/pulumi imports the package by name, as its users do; the specs run it on the sources.
  moduleNameMapper: { '^gatehouse/pulumi$': '<rootDir>/provider/index.ts' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2024', parser: { syntax: 'typescript' } } }],
  },
  // Jest's default on two cores is one worker, i.e. the whole suite in band. Much of a spec's time is
  // spent waiting on servers and child processes: two workers overlap that (measured: 75 s -> 55 s
  // for test/controller, test/server/oidc and test/provider with the type-check beside them).
  maxWorkers: 2,
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
