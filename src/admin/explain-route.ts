/**
 * `POST /explain`: what the policy in force would do with a request, counting
 * nothing (the console's explain view). The plan is the engine's own
 * (src/engine/explain.ts); this route reads the request from the body and
 * says the plan as JSON.
 * @module
 */
import type { Hono } from "hono";
import { policyTtlMs } from "../adapters/workers/kv-policy-source";
import { counterStoreOf, type SluiceLimiter } from "../adapters/workers/limiter";
import { explain } from "../engine/explain";
import { KeyRefusal } from "../http/key-refusal";
import { LOCATION_HINTS } from "../lease/region";
import { type AdminEnv, problem } from "./problem";

const NO_STORE = { "Cache-Control": "no-store" };

type ExplainBody = { method?: unknown; url?: unknown; headers?: unknown; region?: unknown };

export function registerExplainRoute(admin: Hono<AdminEnv>, limiter: SluiceLimiter): void {
  admin.post("/explain", async (c) => {
    const body = await c.req.json<ExplainBody>().catch(() => ({}) as ExplainBody);
    // The region (a location hint) a rule counted per region would count the request in; absent: unknown.
    const region =
      typeof body.region === "string" && (LOCATION_HINTS as readonly string[]).includes(body.region)
        ? body.region
        : undefined;
    if (body.region !== undefined && region === undefined)
      return problem(400, "bad_request", `region must be one of ${LOCATION_HINTS.join(", ")}`);
    if (typeof body.url !== "string") return problem(400, "bad_request", 'body must be { "method", "url", "headers" }');
    let url: URL;
    try {
      url = new URL(body.url);
    } catch {
      return problem(400, "bad_request", "url is not an absolute URL");
    }
    const headers = new Headers();
    if (body.headers && typeof body.headers === "object")
      for (const [name, value] of Object.entries(body.headers as Record<string, unknown>)) {
        try {
          if (typeof value === "string") headers.set(name, value);
        } catch {
          return problem(400, "bad_request", "a header name or value is not valid HTTP");
        }
      }
    const method = typeof body.method === "string" && body.method ? body.method.toUpperCase() : "GET";
    const policy = (await limiter.policies.get(c.env)).compiled;
    let plan: Awaited<ReturnType<typeof explain>>;
    try {
      plan = await explain(
        policy,
        { method, url, headers },
        {
          counters: counterStoreOf(c.env),
          tenants: { lookup: (hash) => limiter.tenants.lookup(c.env.POLICIES, hash, policyTtlMs(c.env)) },
          clock: { now: () => Date.now() },
        },
        { sandbox: c.env.SANDBOX === "true", region },
      );
    } catch (error) {
      // Conflicting API keys where the policy refuses them: explained as the 400 such a request gets.
      if (error instanceof KeyRefusal) return problem(400, "bad_request", error.message);
      throw error;
    }
    if (plan.kind === "invalid-client-ip")
      return problem(
        400,
        "bad_request",
        "CF-Connecting-IP is not one IPv4 or IPv6 address: such a request is answered 400 INVALID_CLIENT_IP before any rule",
      );
    // A block or bypass that decides alone applies too; one that ends a stack does not.
    const { decision } = plan;
    const deciding = decision.kind === "apply" ? decision.rules : decision.kind === "none" ? [] : [decision.rule];
    const rules = plan.rules.map(({ rule, matches, key, label, limits, now = 0 }) => ({
      id: rule.id,
      action: rule.action,
      mode: rule.mode,
      matches,
      applies: deciding.includes(rule),
      ...(key !== undefined ? { key } : {}),
      ...(label !== undefined ? { label } : {}),
      ...(limits
        ? {
            limits: limits.map(({ room: r }) => ({
              name: r.name,
              limit: r.limit,
              remaining: r.remaining,
              resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
              wouldAdmit: r.allowed,
              // A peek does not work out a retry time for every algorithm: the reset then bounds it.
              retryAfterSeconds: r.allowed
                ? 0
                : Math.ceil((r.retryAfterMs > 0 ? r.retryAfterMs : Math.max(0, r.resetAt - now)) / 1000),
            })),
          }
        : {}),
    }));
    const { ipKey, tenant, tier, sandbox } = plan.client;
    return c.json({ method, url: url.href, client: { ip: ipKey, tenant, tier, sandbox }, rules }, 200, NO_STORE);
  });
}
