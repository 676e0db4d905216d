/** Jest runs the TypeScript sources as ESM; `tsc --noEmit` type-checks them separately (npm test). */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  // examples/pulumi imports the package by name, as its users do; the specs run it on the sources.
  moduleNameMapper: { '^gatehouse/pulumi$': '<rootDir>/provider/index.ts' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
