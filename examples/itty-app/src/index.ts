/**
 * An API built with itty-router v5 that limits itself with sluice.
 *
 * - The policy is read from KV `policy` (re-read at most every POLICY_TTL_SECONDS), as the front
 *   door does; put `../shared-policy.json` there. While KV has none, the built-in default applies.
 * - Rule `per-user` counts by the user id in `x-user-id`. This app trusts that header because it
 *   runs behind an auth gateway that sets it (and drops any value a client sent); without the
 *   header, the rule's own key (the client IP) is used.
 * - It imports `sluice/itty`, the entry without Hono, so it does not need Hono installed.
 * - `RateLimiter` (the counters' Durable Object class) is re-exported for the LIMITER binding.
 */
import { AutoRouter, type IRequest, json } from "itty-router";
import { type Env, ittyRateLimit } from "sluice/itty";

export { RateLimiter } from "sluice/itty";

const limit = ittyRateLimit({
  key: (request, rule) => (rule === "per-user" ? (request.headers.get("x-user-id") ?? undefined) : undefined),
});

const router = AutoRouter<IRequest, [Env, ExecutionContext]>({
  before: [limit.before],
  finally: [limit.finally],
});

/** Bypassed by the policy: no counting, no headers. */
router.get("/health", () => new Response("ok"));

/** Rule `api`: 5 an hour per client IP. */
router.get("/api/items", (request) => ({ items: ["a", "b", "c"], remaining: limit.result(request)?.remaining }));

/** Rule `per-user`: 3 an hour per user. */
router.get("/me", (request) => ({ user: request.headers.get("x-user-id") }));

/** Rule `login`, failures only: 3 failed logins per 15 minutes per IP; a success uses nothing up. */
router.post("/login", async (request) => {
  const { password } = await request.json<{ password?: string }>().catch(() => ({ password: undefined }));
  if (password !== "correct horse battery staple") return json({ error: "wrong password" }, { status: 401 });
  return { token: "t0k3n" };
});

/** Rule `export`: one export in flight per IP; the slot is given back when the body has been sent. */
router.get("/export", () => new Response(slowCsv(8, 200), { headers: { "content-type": "text/csv" } }));

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

export default router;
