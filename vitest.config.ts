import { defineConfig } from 'vitest/config';

// Dummy credentials and no metadata probing: nothing may leave loopback.
const env = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  POWERTOOLS_DEV: 'false',
  POWERTOOLS_METRICS_NAMESPACE: 'DanaGatewayTest',
  POWERTOOLS_SERVICE_NAME: 'dana-gateway-test',
};

/** What every project shares. Every worker's output is captured for the log audit. */
const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  env,
  setupFiles: ['test/audit/capture-logs.ts'],
};

export default defineConfig({
  test: {
    // Runs once for the whole run (the root project), whatever projects run; projects inherit what it provides.
    globalSetup: ['test/global-setup.ts'],
    // The JSON report is what CI reads its `N passed, N failed` line from (scripts/test-totals.mjs).
    reporters: ['default', ['json', { outputFile: '.ci/out/vitest.json' }]],
    projects: [
      {
        test: {
          ...shared,
          name: 'tests',
          include: ['test/**/*.test.ts'],
          exclude: ['test/audit/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The log audit reads what every other test printed, so it runs after all of them.
        test: {
          ...shared,
          name: 'log-audit',
          include: ['test/audit/**/*.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
