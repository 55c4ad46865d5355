import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/engine.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
