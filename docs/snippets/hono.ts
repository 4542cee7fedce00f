import { Hono } from "hono";
import { type Env, type RateLimitVariables, rateLimit } from "sluice";

// The counters: bind this class as LIMITER in wrangler.toml (a new_sqlite_classes migration).
export { RateLimiter } from "sluice";

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

// The policy comes from KV `policy` (binding POLICIES), as for the front door.
// Rule "per-user" counts by the user id your auth layer has already verified.
app.use(
  "/api/*",
  rateLimit({
    key: (request, rule) => (rule === "per-user" ? (request.headers.get("x-user-id") ?? undefined) : undefined),
  }),
);

app.get("/api/hello", (c) => c.json({ hello: "world", remaining: c.get("rateLimit").remaining }));

export default app;
