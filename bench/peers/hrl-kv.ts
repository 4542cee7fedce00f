/**
 * "hono-rate-limiter (KV store)": `hono-rate-limiter` with `WorkersKVStore`
 * from `@hono-rate-limiter/cloudflare`, set up as that package's README shows,
 * in front of the same forwarding step. One middleware per benchmark path.
 * Benchmark fixture.
 */
import { WorkersKVStore } from "@hono-rate-limiter/cloudflare";
import { type Context, Hono, type Next } from "hono";
import { rateLimiter } from "hono-rate-limiter";
import { type ForwardEnv, forward, KEY_HEADER } from "./forward";
import { LIMITS } from "./limits";

type Bindings = ForwardEnv & {
  CACHE: KVNamespace;
};

const app = new Hono<{ Bindings: Bindings }>();

for (const [path, limit] of Object.entries(LIMITS)) {
  app.use(path, (c: Context<{ Bindings: Bindings }>, next: Next) =>
    rateLimiter<{ Bindings: Bindings }>({
      windowMs: 60 * 60 * 1000, // 1 hour
      limit,
      standardHeaders: "draft-6",
      keyGenerator: (c) => c.req.header(KEY_HEADER) ?? c.req.header("cf-connecting-ip") ?? "",
      store: new WorkersKVStore({ namespace: c.env.CACHE }),
    })(c, next),
  );
}

app.all("*", (c) => forward(c.req.raw, c.env));

export default app;
