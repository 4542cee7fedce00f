/**
 * "Workers Rate Limiting binding": Cloudflare's own `ratelimits` binding,
 * called as its docs show (`env.RATE_LIMITER.limit({ key })`), in front of
 * the same forwarding step. A binding has one limit and a period of 10 or
 * 60 s, fixed in the wrangler config, so each benchmark path has its own.
 * Benchmark fixture.
 */
import { Hono } from "hono";
import { type ForwardEnv, forward, KEY_HEADER } from "./forward";

interface RateLimit {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

type Bindings = ForwardEnv & {
  RATE_LIMITER: RateLimit; // never reached: /admitted, /hot
  RATE_LIMITER_REFUSED: RateLimit; // 10 per 60 s: /refused
  RATE_LIMITER_BURST: RateLimit; // 50 per 60 s: /burst
};

const app = new Hono<{ Bindings: Bindings }>();

const BINDING_OF_PATH: Record<string, keyof Omit<Bindings, "ORIGIN">> = {
  "/admitted": "RATE_LIMITER",
  "/hot": "RATE_LIMITER",
  "/refused": "RATE_LIMITER_REFUSED",
  "/burst": "RATE_LIMITER_BURST",
};

for (const [path, binding] of Object.entries(BINDING_OF_PATH)) {
  app.use(path, async (c, next) => {
    const key = c.req.header(KEY_HEADER) ?? c.req.header("cf-connecting-ip") ?? "";
    const { success } = await c.env[binding].limit({ key });
    if (!success) return c.text("Too many requests", 429);
    await next();
  });
}

app.all("*", (c) => forward(c.req.raw, c.env));

export default app;
