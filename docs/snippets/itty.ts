import { AutoRouter } from "itty-router";
import { fixedPolicy, ittyRateLimit } from "sluice/itty";

// The counters: bind this class as LIMITER in wrangler.toml (a new_sqlite_classes migration).
export { RateLimiter } from "sluice/itty";

// A policy compiled into the Worker instead of KV `policy`: validated once, at start-up.
const limit = ittyRateLimit({
  policy: fixedPolicy({
    version: 1,
    rules: [{ id: "api", match: { paths: ["/api/*"] }, key: "ip", limits: [{ limit: 100, window: "1m" }] }],
  }),
});

const router = AutoRouter({ before: [limit.before], finally: [limit.finally] });

router.get("/api/hello", (request) => ({ hello: "world", remaining: limit.result(request)?.remaining }));

export default router;
