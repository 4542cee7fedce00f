import { Hono } from "hono";
import { createLimiter, type Env, type RateLimitVariables, rateLimit, sluiceAdmin } from "sluice";

// The counters: bind this class as LIMITER in wrangler.toml (a new_sqlite_classes migration).
export { RateLimiter } from "sluice";

// One limiter for both: a policy published through the admin API is in force at once,
// and /metrics and the console count this limiter's decisions.
const limiter = createLimiter();

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

// The admin API, the console (/__ratelimit/console) and /__ratelimit/metrics, behind ADMIN_TOKEN.
// Mounted first, so that admin calls are not rate limited.
app.use("*", sluiceAdmin({ limiter }));
app.use("/api/*", rateLimit({ limiter }));

app.get("/api/hello", (c) => c.json({ hello: "world", remaining: c.get("rateLimit").remaining }));

export default app;
