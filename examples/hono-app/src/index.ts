/**
 * An API built with Hono that limits itself with sluice.
 *
 * - The policy is compiled in: `../../shared-policy.json`, the same document an operator could put
 *   in KV `policy` for the front door (see ../itty-app for an app that reads it from KV).
 * - Rule `per-user` counts by the user id in `x-user-id`. This app trusts that header because it
 *   runs behind an auth gateway that sets it (and drops any value a client sent); without the
 *   header, the rule's own key (the client IP) is used.
 * - `RateLimiter` (the counters' Durable Object class) is re-exported for the LIMITER binding.
 */
import { Hono } from "hono";
import { type Env, fixedPolicy, type RateLimitVariables, rateLimit } from "sluice";
import policy from "../../shared-policy.json";

export { RateLimiter } from "sluice";

const app = new Hono<{ Bindings: Env; Variables: RateLimitVariables }>();

app.use(
  "*",
  rateLimit({
    policy: fixedPolicy(policy),
    key: (request, rule) => (rule === "per-user" ? (request.headers.get("x-user-id") ?? undefined) : undefined),
  }),
);

/** Bypassed by the policy: no counting, no headers. */
app.get("/health", (c) => c.text("ok"));

/** Rule `api`: 5 an hour per client IP. */
app.get("/api/items", (c) => c.json({ items: ["a", "b", "c"], remaining: c.get("rateLimit").remaining }));

/** Rule `per-user`: 3 an hour per user. */
app.get("/me", (c) => c.json({ user: c.req.header("x-user-id") ?? null }));

/** Rule `login`, failures only: 3 failed logins per 15 minutes per IP; a success uses nothing up. */
app.post("/login", async (c) => {
  const { password } = await c.req.json<{ password?: string }>().catch(() => ({ password: undefined }));
  if (password !== "correct horse battery staple") return c.json({ error: "wrong password" }, 401);
  return c.json({ token: "t0k3n" });
});

/** Rule `export`: one export in flight per IP; the slot is given back when the body has been sent. */
app.get("/export", () => new Response(slowCsv(8, 200), { headers: { "content-type": "text/csv" } }));

/** A CSV of `rows` rows after its header line, one row every `everyMs`: a slow report. */
function slowCsv(rows: number, everyMs: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let row = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (row === 0) {
        controller.enqueue(encoder.encode("id,name\n"));
      } else if (row > rows) {
        controller.close();
        return;
      } else {
        await new Promise((resolve) => setTimeout(resolve, everyMs));
        controller.enqueue(encoder.encode(`${row},row ${row}\n`));
      }
      row++;
    },
  });
}

export default app;
