import { Hono } from "hono";
import { type Env, type RateLimitVariables, rateLimit } from "sluice";

// The counters: bind this class as LIMITER in wrangler.toml (a new_sqlite_classes migration).
export { RateLimiter } from "sluice";

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

// 100 requests a minute per client IP, with no policy document (checked once, at start-up).
// Health checks are neither counted nor given rate-limit headers.
app.use("*", rateLimit({ limit: 100, window: "1m", key: "ip", skip: (c) => c.req.path === "/health" }));

app.get("/health", (c) => c.text("ok"));
app.get("/api/hello", (c) => c.json({ hello: "world", remaining: c.get("rateLimit").remaining }));

export default app;
