// The test tier's view of the bindings: the Worker's own Env, and its default export.
import type { Env as SluiceEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends SluiceEnv {
      /** The loopback origin's port (vitest.config.ts). */
      ORIGIN_PORT: string;
    }
    interface GlobalProps {
      mainModule: typeof import("../src/worker");
      durableNamespaces: "RateLimiter" | "StatsStore";
    }
  }
}
