import { defineConfig } from "vitest/config";

// One command runs every layer: unit tests are fast; interop tests start real
// Tomcat/httpd processes themselves, so they get generous hook timeouts.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "bridge/**/*.test.ts", "worker/**/*.test.ts", "common/**/*.test.ts", "bench/**/*.test.ts", "peers/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Interop suites start JVMs; on 2 cores running them all at once only causes timeouts.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
