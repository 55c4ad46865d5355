import { defineConfig } from 'vitest/config';

// Two projects: unit tests run in seconds without Java (`npm run test:unit`); integration tests get the
// search engine from the global setup. `npm test` runs both.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/engine.ts'],
        },
      },
    ],
  },
});
