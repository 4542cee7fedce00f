import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export const ADMIN_TOKEN_FOR_TESTS = "test-admin-token-0123456789";
export const WEBHOOK_SECRET_FOR_TESTS = "test-webhook-secret-0123456789";

function exampleProject(name: string, app: string) {
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: `./examples/${app}/wrangler.toml` },
        miniflare: {
          bindings: {
            // Tests write KV and expect the next request to see it.
            POLICY_TTL_SECONDS: "0",
            // A cold object in a busy test run can take longer than the production budget.
            LIMITER_TIMEOUT_MS: "5000",
          },
        },
      }),
    ],
    test: {
      name,
      include: [`examples/${app}/test/**/*.test.ts`],
      globalSetup: ["test/support/build.ts"],
      testTimeout: 30_000,
    },
  };
}

function workersProject(name: string, include: string[], exclude: string[], vars: Record<string, string> = {}) {
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ORIGIN: `http://127.0.0.1:${inject("originPort")}`,
            // The loopback origin stands in for the sandbox origin too (test/workers/security.test.ts sets them apart).
            SANDBOX_ORIGIN: `http://127.0.0.1:${inject("originPort")}`,
            ORIGIN_PORT: String(inject("originPort")),
            // Tests write KV and expect the next request to see it.
            POLICY_TTL_SECONDS: "0",
            // A cold object in a busy test run can take longer than the production budget.
            LIMITER_TIMEOUT_MS: "5000",
            ADMIN_TOKEN: ADMIN_TOKEN_FOR_TESTS,
            THRESHOLD_WEBHOOK_SECRET: WEBHOOK_SECRET_FOR_TESTS,
            ...vars,
          },
        },
      })),
    ],
    test: {
      name,
      include,
      exclude,
      globalSetup: ["test/support/global-setup.ts"],
      // Several tests make hundreds of object calls; on a loaded 2-core machine 5 s is not enough.
      testTimeout: 30_000,
    },
  };
}

export default defineConfig({
  test: {
    // Structured log lines of passing tests are noise; a failing test still shows its own.
    silent: "passed-only",
    projects: [
      {
        // Pure units: the algorithms, the config model, path and IP helpers; and the repository checks
        // (test/repo/: docs, package, layers, generated files). Plain Node.
        test: { name: "unit", include: ["test/unit/**/*.test.ts", "test/repo/**/*.test.ts"], environment: "node" },
      },
      // Through the Workers runtime: the Worker, the Durable Object, KV.
      workersProject("workers", ["test/workers/**/*.test.ts"], ["test/workers/batching.test.ts"]),
      // Batching is off unless LIMITER_BATCH=on (docs/architecture.md): its test runs the Worker with it on.
      workersProject("workers-batch", ["test/workers/batching.test.ts"], [], { LIMITER_BATCH: "on" }),
      // The example apps (examples/*), each in workerd from its own wrangler.toml. They import
      // "sluice" by name: the package's `exports` resolve it to the built dist/, which the global
      // setup builds when it is not up to date with the sources.
      exampleProject("example-hono", "hono-app"),
      exampleProject("example-itty", "itty-app"),
      {
        // End to end: `wrangler dev` driven over real HTTP.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
