/**
 * Admin calls the console needs beyond the contract's first round: a counter
 * by its counting key (as the top-keys list shows it), and an explain of a
 * request. (One history entry and the tenant list are the admin app's own
 * `GET /policy/history/<version>` and `GET /tenants`.) Mounted on the admin
 * app, so behind its token. They read; only `DELETE /counters` changes state.
 * @module
 */
import type { Hono } from "hono";
import { policyTtlMs } from "../adapters/workers/kv-policy-source";
import { counterStoreOf, type SluiceLimiter } from "../adapters/workers/limiter";
import { labelledCountingKeys, scoped } from "../engine/counting-key";
import { clientIp } from "../engine/identity";
import { isCredentialKey } from "../engine/key-label";
import { matchRules, ruleCounterSpecs } from "../engine/plan";
import type { Env } from "../env";
import { sha256Hex } from "../hash";
import { keysToCount, readCredentials } from "../http/credentials";
import { logEvent } from "../log";
import { normalizePath } from "../policy/normalize-path";

const NO_STORE = { "Cache-Control": "no-store" };
/** A counting key is at most a prefix, a header name and a hash, or a tenant id of 256 characters. */
const MAX_OBJECT_NAME = 600;

function problem(status: 400 | 404, error: string, message: string): Response {
  return Response.json({ error, message }, { status, headers: NO_STORE });
}

// biome-ignore lint/suspicious/noExplicitAny: the admin app's Variables are its own; these routes use only Bindings.
export function mountConsoleSupport<E extends { Bindings: Env; Variables: any }>(
  admin: Hono<E>,
  limiter: SluiceLimiter,
) {
  const counterOf = async (env: Env, ruleId: string | undefined, object: string | undefined, tier?: string) => {
    if (!ruleId || !object) return problem(400, "bad_request", "rule= and object= are required");
    if (object.length > MAX_OBJECT_NAME) return problem(400, "bad_request", "object= is too long");
    const policy = (await limiter.policies.get(env)).compiled;
    const rule = policy.rules.find((r) => r.id === ruleId);
    if (!rule) return problem(404, "not_found", "no such rule in the policy in force");
    const specs = ruleCounterSpecs(policy, rule, tier ?? policy.defaultTier, object.startsWith("sandbox:"));
    return { rule: rule.id, object, specs, shards: rule.shards };
  };

  admin.get("/counters", async (c) => {
    const target = await counterOf(c.env, c.req.query("rule"), c.req.query("object"), c.req.query("tier"));
    if (target instanceof Response) return target;
    const { now, results } = await counterStoreOf(c.env).inspect(target.object, target.specs, [], target.shards);
    return c.json(
      {
        rule: target.rule,
        object: target.object,
        limits: results.map((r) => ({
          name: r.name,
          limit: r.limit,
          remaining: r.remaining,
          reset: Math.ceil(r.resetAt / 1000),
          resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
        })),
      },
      200,
      NO_STORE,
    );
  });

  admin.delete("/counters", async (c) => {
    const target = await counterOf(c.env, c.req.query("rule"), c.req.query("object"));
    if (target instanceof Response) return target;
    const removed = await counterStoreOf(c.env).reset(
      target.object,
      target.specs.map((s) => s.name),
      target.shards,
    );
    limiter.refusals.forgetObject(target.object);
    logEvent("counter.reset", { rule: target.rule, object: target.object, actor: c.get("actor") ?? "admin-api" });
    return c.json({ reset: true, removed }, 200, NO_STORE);
  });

  admin.post("/explain", async (c) => {
    const body = await c.req
      .json<{ method?: unknown; url?: unknown; headers?: unknown }>()
      .catch(() => ({}) as { method?: unknown; url?: unknown; headers?: unknown });
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
    const ip = clientIp(headers, policy);
    if (ip.malformed !== undefined)
      return problem(
        400,
        "bad_request",
        "CF-Connecting-IP is not one IPv4 or IPv6 address: such a request is answered 400 INVALID_CLIENT_IP before any rule",
      );
    const host = url.hostname.toLowerCase();
    const facts = { method, path: normalizePath(url.pathname), host, headers, ip: ip.ip };
    // The tenant is looked up as a request's would be; the sandbox as the engine decides it.
    // The first key the request presents where the policy reads keys; a conflict is explained as the 400 it gets.
    let apiKey: string | undefined;
    try {
      apiKey = policy.needsTenant
        ? keysToCount(readCredentials(headers, url, policy.credentials), policy.credentials.onConflict)[0]
        : undefined;
    } catch (error) {
      return problem(400, "bad_request", error instanceof Error ? error.message : String(error));
    }
    const tenant =
      apiKey === undefined
        ? null
        : await limiter.tenants.lookup(c.env.POLICIES, await sha256Hex(apiKey), policyTtlMs(c.env));
    const tier = tenant?.tier ?? policy.defaultTier;
    const sandbox = c.env.SANDBOX === "true" || tenant?.sandbox === true || policy.sandboxHosts.has(host);

    // The engine's own walk: first match decides, `continue` stacks the next match, block and bypass end it.
    const match = matchRules(policy, facts);
    const applying = new Set(match.kind === "apply" ? match.rules : match.kind === "none" ? [] : [match.rule]);
    const store = counterStoreOf(c.env);
    const rules = [];
    for (const rule of policy.rules) {
      const entry: Record<string, unknown> = {
        id: rule.id,
        action: rule.action,
        mode: rule.mode,
        matches: rule.matches(facts),
        applies: applying.has(rule),
      };
      if (applying.has(rule) && rule.action === "limit" && rule.limits.length > 0) {
        const [first] = await labelledCountingKeys(
          rule.key,
          {
            ipKey: ip.ipKey,
            tenantId: tenant?.id,
            url,
            headers,
            // An explain has no body: a body key reads as absent, as for a request without one.
            body: async () => ({ kind: "none" }) as const,
          },
          undefined,
          isCredentialKey(rule.key, policy.credentials),
        );
        const key = scoped(first!.key, sandbox);
        entry.key = key;
        if (first!.label !== undefined) entry.label = scoped(first!.label, sandbox);
        const { now, results } = await store.inspect(key, ruleCounterSpecs(policy, rule, tier, sandbox));
        entry.limits = results.map((r) => ({
          name: r.name,
          limit: r.limit,
          remaining: r.remaining,
          resetInSeconds: Math.max(0, Math.ceil((r.resetAt - now) / 1000)),
          wouldAdmit: r.allowed,
          // A peek does not work out a retry time for every algorithm: the reset then bounds it.
          retryAfterSeconds: r.allowed
            ? 0
            : Math.ceil((r.retryAfterMs > 0 ? r.retryAfterMs : Math.max(0, r.resetAt - now)) / 1000),
        }));
      }
      rules.push(entry);
    }
    return c.json(
      {
        method,
        url: url.href,
        client: { ip: ip.ipKey, tenant: tenant?.id ?? null, tier, sandbox },
        rules,
      },
      200,
      NO_STORE,
    );
  });
}
