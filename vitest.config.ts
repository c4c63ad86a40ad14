import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Dummy credentials and no metadata probing: nothing may leave loopback.
    env: {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_METRICS_NAMESPACE: 'DanaGatewayTest',
      POWERTOOLS_SERVICE_NAME: 'dana-gateway-test',
    },
  },
});
