/**
 * Nothing gets around a rule: each case here is a way one client got many
 * times its limit (a body field sluice could not read but the origin could, a
 * path spelling the origin routes, a credential form the origin accepts, a
 * sandbox host on the production origin), and each test sends that request
 * through the Worker to the loopback origin, which reads bodies and routes
 * paths the way Express, Tomcat and Rails do (test/support/framework-origin.ts).
 * Before the fix the request got through counted on a looser key; now it is
 * counted on the right one, or refused.
 */
import {
  createExecutionContext,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { sha256Hex } from "../../src/hash";
import type { PolicyInput } from "../../src/policy/schema";
import worker from "../../src/worker";
import { call, callMany, originCount, uniqueIp, uniqueTag, usePolicy } from "../support/client";
import { routedPath } from "../support/routed-path";

interface Echo {
  body: string;
  routed: string;
  fields: Record<string, unknown> | undefined;
}

const LOGIN = "/api/v1/auth/login";

// The first request of a file starts workerd's objects and KV, which can take seconds on a busy machine.
beforeAll(async () => {
  await (await call("/warm-up")).arrayBuffer();
}, 60_000);

function loginPolicy(bodyKey?: NonNullable<PolicyInput["rules"][number]["bodyKey"]>): PolicyInput {
  return {
    version: 1,
    rules: [
      {
        id: "login-email",
        match: { methods: ["POST"], paths: [LOGIN] },
        key: "body:email",
        ...(bodyKey ? { bodyKey } : {}),
        limits: [{ limit: 3, window: "1m" }],
      },
    ],
  };
}

async function compressed(text: string, format: "gzip" | "deflate"): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 4096) c.enqueue(bytes.slice(i, i + 4096));
      c.close();
    },
  });
}

/** One login attempt from a fresh IP; the origin's reading of it when admitted. */
async function attempt(
  headers: Record<string, string>,
  body: () => BodyInit,
): Promise<{ status: number; echo?: Echo; json?: Record<string, unknown> }> {
  const res = await call(LOGIN, { ip: uniqueIp(), method: "POST", headers, body: body() });
  if (res.status === 200) return { status: 200, echo: (await res.json()) as Echo };
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("1. a body-field key reads the body the way origins do", () => {
  const padded = (email: string) => `${JSON.stringify({ email, password: "g" })}${" ".repeat(17_000)}`;
  const cases: Array<[string, Record<string, string>, (email: string) => BodyInit | Promise<BodyInit>]> = [
    ["JSON over 16 KiB", { "content-type": "application/json" }, padded],
    ["chunked JSON over 16 KiB", { "content-type": "application/json" }, (e) => chunked(padded(e))],
    ["JSON sent as text/plain", { "content-type": "text/plain" }, (e) => JSON.stringify({ email: e })],
    ["JSON with no content type", {}, (e) => new TextEncoder().encode(JSON.stringify({ email: e }))],
    [
      "JSON under two content types",
      { "content-type": "application/json, text/plain" },
      (e) => JSON.stringify({ email: e }),
    ],
    [
      "gzip-encoded JSON",
      { "content-type": "application/json", "content-encoding": "gzip" },
      (e) => compressed(JSON.stringify({ email: e }), "gzip"),
    ],
    [
      "deflate-encoded form",
      { "content-type": "application/x-www-form-urlencoded", "content-encoding": "deflate" },
      (e) => compressed(new URLSearchParams({ email: e }).toString(), "deflate"),
    ],
    [
      "multipart form",
      { "content-type": "multipart/form-data; boundary=XyZ" },
      (e) =>
        `--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\ng\r\n--XyZ\r\nContent-Disposition: form-data; name="email"\r\n\r\n${e}\r\n--XyZ--\r\n`,
    ],
  ];

  it.each(cases)(
    "%s: the origin reads the email, and the 4th attempt on it from a 4th IP is refused",
    async (_, headers, make) => {
      await usePolicy(loginPolicy());
      const email = `${uniqueTag("victim")}@x.test`;
      for (let i = 0; i < 3; i++) {
        const body = await make(email);
        const r = await attempt(headers, () => body);
        expect(r.status).toBe(200);
        expect((r.echo!.fields as { email?: string }).email).toBe(email);
      }
      const body = await make(email);
      expect((await attempt(headers, () => body)).status).toBe(429);
      // Another address is its own counter.
      const other = await make(`other-${email}`);
      expect((await attempt(headers, () => other)).status).toBe(200);
    },
  );

  it("a brotli body is read where the runtime decodes brotli, and refused (never counted by IP) where it does not", async () => {
    await usePolicy(loginPolicy());
    let supported = true;
    try {
      new DecompressionStream("brotli" as "gzip");
    } catch {
      supported = false;
    }
    // A brotli stream of `{"email":"b@x.test"}` (quality 11, made with Node's zlib).
    const br = Uint8Array.from(atob("iwmAeyJlbWFpbCI6ImJAeC50ZXN0In0D"), (c) => c.charCodeAt(0));
    const headers = { "content-type": "application/json", "content-encoding": "br" };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt(headers, () => br)).status);
    expect(statuses).toEqual(supported ? [200, 200, 200, 429] : [400, 400, 400, 400]);
  });

  it("refuses with 400 naming the rule a field given twice (the origin reads the last) or a JSON key given twice", async () => {
    await usePolicy(loginPolicy());
    const form = await attempt(
      { "content-type": "application/x-www-form-urlencoded" },
      () => "email=decoy@x.test&email=victim@x.test",
    );
    expect(form.status).toBe(400);
    expect(form.json).toMatchObject({ code: "BODY_KEY_UNREADABLE", rule: "login-email" });
    const json = await attempt(
      { "content-type": "application/json" },
      () => '{"email":"decoy@x.test","email":"victim@x.test"}',
    );
    expect(json.status).toBe(400);
    expect(json.json).toMatchObject({ code: "BODY_KEY_UNREADABLE", rule: "login-email" });
    // The same value twice is an array to qs and multer: refused too, unless the rule counts arrays on each value.
    const twice = `${uniqueTag("twice")}@x.test`;
    const body = () => `email=${twice}&email=${twice.toUpperCase()}`;
    expect((await attempt({ "content-type": "application/x-www-form-urlencoded" }, body)).status).toBe(400);
    await usePolicy(loginPolicy({ arrays: "each" }));
    expect((await attempt({ "content-type": "application/x-www-form-urlencoded" }, body)).status).toBe(200);
  });

  it("refuses with 413 a body over the rule's maxBytes, and with 400 one it cannot decode or parse", async () => {
    await usePolicy(loginPolicy({ maxBytes: 1024 }));
    const big = await attempt({ "content-type": "application/json" }, () =>
      JSON.stringify({ email: "a@x.test", pad: "x".repeat(1100) }),
    );
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ code: "BODY_TOO_LARGE", rule: "login-email" });
    const bigChunked = await attempt({ "content-type": "application/json" }, () =>
      chunked(JSON.stringify({ email: "a@x.test", pad: "x".repeat(1100) })),
    );
    expect(bigChunked.status).toBe(413);
    // A gzip bomb is cut at maxBytes of decoded text, not read whole.
    const bomb = await compressed(JSON.stringify({ email: "a@x.test", pad: "x".repeat(1_000_000) }), "gzip");
    expect((await attempt({ "content-type": "application/json", "content-encoding": "gzip" }, () => bomb)).status).toBe(
      413,
    );
    const notGzip = await attempt(
      { "content-type": "application/json", "content-encoding": "gzip" },
      () => '{"email":"a@x.test"}',
    );
    expect(notGzip.status).toBe(400);
    expect(notGzip.json).toMatchObject({ code: "BODY_KEY_UNREADABLE", rule: "login-email" });
    const twoCodings = await attempt({ "content-type": "application/json", "content-encoding": "gzip, br" }, () => "x");
    expect(twoCodings.status).toBe(400);
    const notJson = await attempt({ "content-type": "application/json" }, () => "email=a@x.test");
    expect(notJson.status).toBe(400);
  });

  it('with onUnreadable: "count", counts every unreadable body of the rule on one shared counter', async () => {
    await usePolicy(loginPolicy({ maxBytes: 1024, onUnreadable: "count" }));
    const unreadable: Array<[Record<string, string>, () => BodyInit]> = [
      [{ "content-type": "application/x-www-form-urlencoded" }, () => "email=decoy@x.test&email=victim@x.test"],
      [{ "content-type": "application/json" }, () => JSON.stringify({ email: "a@x.test", pad: "x".repeat(1100) })],
      [{ "content-type": "application/json", "content-encoding": "gzip" }, () => "not gzip"],
    ];
    const statuses = [];
    for (const [headers, body] of [...unreadable, unreadable[0]!]) statuses.push((await attempt(headers, body)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("still counts by IP a body that lacks the field (the origin has no address to act on either)", async () => {
    await usePolicy(loginPolicy());
    const ip = uniqueIp();
    const json = { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"x"}' };
    expect(await callMany(4, LOGIN, { ip, ...json })).toEqual([200, 200, 200, 429]);
  });
});

describe("2. one spelling per route", () => {
  const ROUTE = "/api/v1/transfers";
  const spellings = [
    "/api;/v1/transfers",
    "/api/v1/transfers;x=1",
    "/api;jsessionid=1/v1;a=b/transfers",
    `${"/".repeat(8200)}${ROUTE}`,
    `/${"%2F".repeat(2740)}${ROUTE}`,
    "/api/v1/transfers.json",
    "/api/v1/tran%C5%BFfers",
    "/api/v1/%EF%BC%B4ransfers",
  ];

  it.each(spellings.map((s) => [s.length > 60 ? `${s.slice(0, 24)}…(${s.length} chars)` : s, s]))(
    "%s is routed to the transfers route by the origin, and counted on its counter",
    async (_, spelling) => {
      expect(routedPath(spelling)).toBe(ROUTE);
      await usePolicy({
        version: 1,
        rules: [{ id: "transfers", match: { paths: [ROUTE] }, key: "ip", limits: [{ limit: 2, window: "1m" }] }],
      });
      const ip = uniqueIp();
      expect(await callMany(2, ROUTE, { ip })).toEqual([200, 200]);
      const res = await call(spelling, { ip });
      await res.arrayBuffer();
      expect(res.status).toBe(429);
      expect(res.headers.get("RateLimit-Policy")).toContain('"transfers-1m"');
    },
  );
});

describe("3. credentials where the origin takes them", () => {
  const KEY = `key-${uniqueTag("acme")}`;
  const policy = (onConflict: "refuse" | "strictest"): PolicyInput => ({
    version: 1,
    identity: {
      apiKey: {
        header: "authorization",
        scheme: "Bearer",
        also: [
          { header: "authorization", scheme: "Token" },
          { header: "authorization" },
          { header: "x-api-key" },
          { query: "api_key" },
        ],
        forbidden: [{ query: "access_token" }],
        onConflict,
      },
    },
    rules: [{ id: "tenant-quota", match: { paths: ["/api/*"] }, key: "tenant", limits: [{ limit: 2, window: "1m" }] }],
  });

  async function spendQuota(id: string): Promise<string> {
    const key = `${KEY}-${id}`;
    await env.POLICIES.put(`tenant:${await sha256Hex(key)}`, JSON.stringify({ id, tier: "starter" }));
    expect(
      await callMany(2, "/api/v1/transfers", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } }),
    ).toEqual([200, 200]);
    return key;
  }

  const forms: Array<[string, (key: string) => { path: string; headers: Record<string, string> }]> = [
    ["Bearer<TAB>KEY", (k) => ({ path: "/api/x", headers: { authorization: `Bearer\t${k}` } })],
    ["bEaReR  KEY", (k) => ({ path: "/api/x", headers: { authorization: `bEaReR  ${k}` } })],
    ["a raw key in Authorization", (k) => ({ path: "/api/x", headers: { authorization: k } })],
    ["Token KEY", (k) => ({ path: "/api/x", headers: { authorization: `Token ${k}` } })],
    ["X-API-Key", (k) => ({ path: "/api/x", headers: { "x-api-key": k } })],
    ["?api_key=", (k) => ({ path: `/api/x?api_key=${encodeURIComponent(k)}`, headers: {} })],
  ];

  it.each(forms)("%s is the tenant's key: refused once its quota is spent, from any IP", async (name, form) => {
    await usePolicy(policy("refuse"));
    const key = await spendQuota(`t-${name.replace(/\W+/g, "-").toLowerCase()}`);
    const { path, headers } = form(key);
    const res = await call(path, { ip: uniqueIp(), headers });
    await res.arrayBuffer();
    expect(res.status).toBe(429);
  });

  /** A request with repeated headers (which `call` cannot send). */
  function send(path: string, headers: Array<[string, string]>): Promise<Response> {
    const h = new Headers(headers);
    h.set("cf-connecting-ip", uniqueIp());
    return exports.default.fetch(new Request(`http://api.example.com${path}`, { headers: h }));
  }

  it("refuses two different keys, or a key in a forbidden place, with 400 AMBIGUOUS_CREDENTIALS", async () => {
    await usePolicy(policy("refuse"));
    const key = await spendQuota("t-two");
    const attempts: Array<[string, Array<[string, string]>]> = [
      [
        "/api/x",
        [
          ["authorization", `Bearer ${key}`],
          ["authorization", "Bearer someone-else"],
        ],
      ],
      ["/api/x?api_key=someone-else", [["authorization", `Bearer ${key}`]]],
      [
        "/api/x",
        [
          ["x-api-key", "someone-else"],
          ["authorization", `Bearer ${key}`],
        ],
      ],
      [`/api/x?access_token=${encodeURIComponent(key)}`, []],
    ];
    for (const [path, headers] of attempts) {
      const res = await send(path, headers);
      expect(res.status, path).toBe(400);
      expect(await res.json()).toMatchObject({ code: "AMBIGUOUS_CREDENTIALS" });
    }
    // The same key in two places is one key.
    const same = await send(`/api/x?api_key=${encodeURIComponent(key)}`, [["x-api-key", key]]);
    await same.arrayBuffer();
    expect(same.status).toBe(429);
  });

  it('under onConflict "strictest", counts two keys on both: the spent tenant refuses', async () => {
    await usePolicy(policy("strictest"));
    const key = await spendQuota("t-strict");
    const fresh = `${KEY}-fresh`;
    await env.POLICIES.put(`tenant:${await sha256Hex(fresh)}`, JSON.stringify({ id: "t-fresh", tier: "starter" }));
    const both = await send("/api/x", [
      ["authorization", `Bearer ${fresh}`],
      ["x-api-key", key],
    ]);
    await both.arrayBuffer();
    expect(both.status).toBe(429);
    // Refused, so nothing was charged: the fresh tenant still has its whole quota.
    expect(await callMany(3, "/api/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${fresh}` } })).toEqual([
      200, 200, 429,
    ]);
  });
});

describe("3. credentials: the strictest reading of one key's numbers", () => {
  it('under "strictest", a tiered rule counted by IP takes the smaller number of the readings', async () => {
    await usePolicy({
      version: 1,
      identity: {
        apiKey: { header: "authorization", scheme: "Bearer", also: [{ header: "x-api-key" }], onConflict: "strictest" },
      },
      rules: [{ id: "by-ip", key: "ip", limits: [{ limit: { starter: 2, pro: 5 }, window: "1m" }] }],
    });
    const pro = `key-${uniqueTag("pro")}`;
    await env.POLICIES.put(`tenant:${await sha256Hex(pro)}`, JSON.stringify({ id: uniqueTag("pro"), tier: "pro" }));
    const ip = uniqueIp();
    const alone = await call("/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${pro}` } });
    await alone.arrayBuffer();
    expect(alone.headers.get("RateLimit-Limit")).toBe("5");
    // The pro key beside an unknown one: the unknown reading is a starter, and 2 is the smaller number.
    const headers = { authorization: `Bearer ${pro}`, "x-api-key": "unknown-key" };
    expect(await callMany(3, "/x", { ip, headers })).toEqual([200, 200, 429]);
  });
});

describe("6. a sandbox host never reaches the production origin", () => {
  const policy: PolicyInput = {
    version: 1,
    sandbox: { multiplier: 10, hosts: ["sandbox.test"] },
    rules: [{ id: "transfers", match: { paths: ["/api/*"] }, key: "ip", limits: [{ limit: 5, window: "1m" }] }],
  };
  const loopback = () => `http://127.0.0.1:${env.ORIGIN_PORT}`;

  async function through(host: string, overrides: Partial<Env>, tag: string): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await worker.fetch!(
      new Request(`http://${host}/api/v1/transfers`, {
        headers: { "cf-connecting-ip": uniqueIp(), "x-test-tag": tag },
      }) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...overrides },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("refuses with 503 a sandbox-host request when ORIGIN is set and SANDBOX_ORIGIN is not; the origin never sees it", async () => {
    await usePolicy(policy);
    const tag = uniqueTag("sbx");
    const res = await through("sandbox.test", { ORIGIN: loopback(), SANDBOX_ORIGIN: "" }, tag);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "SANDBOX_ORIGIN_NOT_CONFIGURED" });
    expect(await originCount(tag)).toBe(0);
    // The production host still goes to ORIGIN.
    const prod = await through("api.example.com", { ORIGIN: loopback(), SANDBOX_ORIGIN: "" }, uniqueTag("prod"));
    await prod.arrayBuffer();
    expect(prod.status).toBe(200);
  });

  it("sends a sandbox-host request to SANDBOX_ORIGIN, and the production host to ORIGIN", async () => {
    await usePolicy(policy);
    // ORIGIN is the built-in echo, SANDBOX_ORIGIN the loopback origin: each answer says who gave it.
    const overrides = { ORIGIN: "builtin:echo", SANDBOX_ORIGIN: loopback() };
    const tag = uniqueTag("sbx");
    const sandbox = await through("SANDBOX.test", overrides, tag);
    await sandbox.arrayBuffer();
    expect(sandbox.status).toBe(200);
    expect(sandbox.headers.get("RateLimit-Limit")).toBe("50");
    expect(await originCount(tag)).toBe(1);
    const prodTag = uniqueTag("prod");
    const prod = await through("api.example.com", overrides, prodTag);
    expect(await prod.json()).toMatchObject({ echo: true });
    expect(await originCount(prodTag)).toBe(0);
  });

  it("in route mode (ORIGIN empty), a sandbox host goes to its own URL: the zone routes it", async () => {
    const { originFor } = await import("../../src/origin/sandbox-origin");
    expect(originFor({ ...env, ORIGIN: "", SANDBOX_ORIGIN: "" }, true)).toBe("");
    expect(originFor({ ...env, ORIGIN: "https://prod.example", SANDBOX_ORIGIN: "" }, true)).toBeUndefined();
    expect(originFor({ ...env, ORIGIN: "https://prod.example", SANDBOX_ORIGIN: "" }, false)).toBe(
      "https://prod.example",
    );
  });
});

describe("7. a corrupt counter row is used up until it expires, and its object keeps working", () => {
  const policy: PolicyInput = {
    version: 1,
    rules: [
      { id: "hot", match: { paths: ["/hot"] }, key: "ip", limits: [{ limit: 3, window: "1m" }] },
      { id: "cold", match: { paths: ["/cold"] }, key: "ip", limits: [{ limit: 3, window: "1m" }] },
      { id: "past", match: { paths: ["/past"] }, key: "ip", limits: [{ limit: 3, window: "1m" }] },
    ],
  };

  it("refuses on the corrupt counter until its expires_at, never reads it as empty, and the alarm runs clean", async () => {
    await usePolicy(policy);
    const ip = uniqueIp();
    expect(await callMany(1, "/hot", { ip })).toEqual([200]);
    const stub = env.LIMITER.getByName(`ip:${ip}`);
    const until = Date.now() + 45_000;
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE counters SET state = ? WHERE name = ?", "{torn", "hot-1m");
      state.storage.sql.exec(
        "INSERT INTO counters (name, state, expires_at) VALUES (?, ?, ?)",
        "cold-1m",
        '{"algorithm":"fixed"}',
        "not a time",
      );
      state.storage.sql.exec(
        "INSERT INTO counters (name, state, expires_at) VALUES (?, ?, ?)",
        "past-1m",
        "[]",
        Date.now() - 1,
      );
      state.storage.sql.exec("UPDATE counters SET expires_at = ? WHERE name = ?", until, "hot-1m");
    });
    await evictDurableObject(stub);

    const hot = await call("/hot", { ip });
    await hot.arrayBuffer();
    expect(hot.status).toBe(429);
    expect(Number(hot.headers.get("Retry-After"))).toBeGreaterThan(30);
    expect(Number(hot.headers.get("Retry-After"))).toBeLessThanOrEqual(45);
    // A corrupt row whose expires_at is unreadable too is used up (for a day), not empty.
    expect(await callMany(1, "/cold", { ip })).toEqual([429]);
    // One whose expires_at has passed is gone: that counter starts afresh.
    expect(await callMany(4, "/past", { ip })).toEqual([200, 200, 200, 429]);
    // The alarm runs without throwing, and the object still answers.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await callMany(1, "/hot", { ip })).toEqual([429]);
    // An operator's reset (admin DELETE /keys) clears it.
    const reset = await call(`/__ratelimit/keys?rule=hot&key=${ip}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(reset.status).toBe(200);
    await reset.arrayBuffer();
    expect(await callMany(1, "/hot", { ip })).toEqual([200]);
  });
});

describe("7. limits and the sandbox multiplier fit the header grammar", () => {
  it("refuses a multiplier or a limit whose numbers a RateLimit header cannot carry (RFC 9651: at most 15 digits)", async () => {
    const { validatePolicy } = await import("../../src/policy/validate");
    const rules = [{ id: "a", limits: [{ limit: 100_000_000_000, window: "1m" }] }];
    expect(validatePolicy({ version: 1, rules }).ok).toBe(true);
    const overflow = validatePolicy({ version: 1, sandbox: { multiplier: 1e300 }, rules });
    expect(overflow.ok ? [] : overflow.errors.map((e) => e.path)).toContain("sandbox.multiplier");
    const tooBig = validatePolicy({ version: 1, rules: [{ id: "a", limits: [{ limit: 10 ** 16, window: "1m" }] }] });
    expect(tooBig.ok ? [] : tooBig.errors.map((e) => e.path)).toContain("rules[0].limits[0].limit");
    const infinite = validatePolicy({ version: 1, sandbox: { multiplier: Number.POSITIVE_INFINITY }, rules });
    expect(infinite.ok).toBe(false);
  });
});

describe("8. one reading per request, the origin's (issue 24)", () => {
  /** Four attempts on one email, each from a fresh IP: before, each was counted by IP (or on a decoy). */
  async function fourAttempts(
    headers: Record<string, string>,
    body: () => BodyInit,
    path = LOGIN,
  ): Promise<{ statuses: number[]; emails: unknown[] }> {
    const statuses: number[] = [];
    const emails: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call(path, { ip: uniqueIp(), method: "POST", headers, body: body() });
      statuses.push(res.status);
      const json = (await res.json()) as Echo & { code?: string };
      emails.push(res.status === 200 ? (json.fields as { email?: unknown } | undefined)?.email : json.code);
    }
    return { statuses, emails };
  }

  it("a JSON number over 400 digits with a decoy &email= in a string: refused, never read as a form", async () => {
    await usePolicy(loginPolicy());
    const email = `${uniqueTag("victim")}@x.test`;
    const body = `{"n":${"9".repeat(500)},"email":"${email}","note":"&email=${uniqueTag("decoy")}@x.test&"}`;
    const r = await fourAttempts({ "content-type": "text/plain" }, () => body);
    expect(r.statuses).toEqual([400, 400, 400, 400]);
    expect(r.emails[0]).toBe("BODY_KEY_UNREADABLE");
    // Without the decoy, the long number no longer stops sluice: counted on the victim's email, as the origin reads it.
    const plain = `{"n":${"9".repeat(500)},"a":${"[".repeat(100)}${"]".repeat(100)},"email":"${email}"}`;
    const ok = await fourAttempts({ "content-type": "application/json" }, () => plain);
    expect(ok.statuses).toEqual([200, 200, 200, 429]);
    expect(ok.emails[0]).toBe(email);
  });

  it("a body declared charset=utf-16le is decoded as UTF-16LE: counted on the email the origin reads", async () => {
    await usePolicy(loginPolicy());
    const email = `${uniqueTag("victim")}@x.test`;
    const bytes = new Uint8Array([...JSON.stringify({ email })].flatMap((c) => [c.charCodeAt(0), 0]));
    const r = await fourAttempts({ "content-type": "application/json; charset=utf-16le" }, () => bytes);
    expect(r.emails[0]).toBe(email);
    expect(r.statuses).toEqual([200, 200, 200, 429]);
  });

  it("multipart: a quoted value containing ;filename= hides no field; two boundary parameters are refused", async () => {
    await usePolicy(loginPolicy());
    const email = `${uniqueTag("victim")}@x.test`;
    const body = `--b1\r\nContent-Disposition: form-data; name="email"; x="a;filename=b"\r\n\r\n${email}\r\n--b1--\r\n`;
    const r = await fourAttempts({ "content-type": "multipart/form-data; boundary=b1" }, () => body);
    expect(r.emails[0]).toBe(email);
    expect(r.statuses).toEqual([200, 200, 200, 429]);
    const two = await fourAttempts({ "content-type": "multipart/form-data; boundary=b1; boundary=zz" }, () => body);
    expect(two.statuses).toEqual([400, 400, 400, 400]);
  });

  it('email[0]= (an array to qs) is refused, or counted on each value with arrays: "each"', async () => {
    await usePolicy(loginPolicy());
    const email = `${uniqueTag("victim")}@x.test`;
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const refused = await fourAttempts(form, () => `email[0]=${email}`);
    expect(refused.statuses).toEqual([400, 400, 400, 400]);
    await usePolicy(loginPolicy({ arrays: "each" }));
    const counted = await fourAttempts(form, () => `email[0]=${email}`);
    expect(counted.emails[0]).toEqual([email]);
    expect(counted.statuses).toEqual([200, 200, 200, 429]);
  });

  it("a NUL at the end of the email is refused, not a fresh counter", async () => {
    await usePolicy(loginPolicy());
    const r = await fourAttempts({ "content-type": "application/json" }, () => '{"email":"victim@x.test\\u0000"}');
    expect(r.statuses).toEqual([400, 400, 400, 400]);
  });

  it('from: ["body", "query"] counts the key in the query string beside a body without it', async () => {
    await usePolicy(loginPolicy({ from: ["body", "query"] }));
    const email = `${uniqueTag("victim")}@x.test`;
    const json = { "content-type": "application/json" };
    const r = await fourAttempts(json, () => '{"password":"g"}', `${LOGIN}?email=${encodeURIComponent(email)}`);
    expect(r.statuses).toEqual([200, 200, 200, 429]);
    const differ = await fourAttempts(json, () => `{"email":"other-${email}"}`, `${LOGIN}?email=${email}`);
    expect(differ.statuses).toEqual([400, 400, 400, 400]);
  });

  it("methodOverride: a POST overridden to DELETE is counted by the DELETE rule (header, _method in query or form)", async () => {
    const ROUTE = "/api/v1/accounts/1";
    await usePolicy({
      version: 1,
      rules: [
        {
          id: "deletes",
          match: { methods: ["DELETE"], paths: ["/api/v1/accounts/*"], methodOverride: true },
          key: "ip",
          limits: [{ limit: 3, window: "1m" }],
        },
      ],
    });
    const ip = uniqueIp();
    const post = (headers: Record<string, string>, body: string, path = ROUTE) =>
      call(path, { ip, method: "POST", headers, body }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    const form = { "content-type": "application/x-www-form-urlencoded" };
    expect(await post({ "x-http-method-override": "DELETE" }, "")).toBe(200);
    expect(await post(form, "_method=delete")).toBe(200);
    expect(await post({}, "", `${ROUTE}?x=1;_method=DELETE`)).toBe(200);
    expect(await post({ "x-method-override": "DELETE" }, "")).toBe(429);
    // A plain POST is not a DELETE.
    expect(await post(form, "a=1")).toBe(200);
  });
});

describe("8. credentials in a query string split at ;", () => {
  it("?x=1;api_key=KEY (Rack 2 splits at ;) is the tenant's key: refused once its quota is spent", async () => {
    const key = `key-${uniqueTag("semi")}`;
    await usePolicy({
      version: 1,
      identity: { apiKey: { header: "authorization", scheme: "Bearer", also: [{ query: "api_key" }] } },
      rules: [
        { id: "tenant-quota", match: { paths: ["/api/*"] }, key: "tenant", limits: [{ limit: 2, window: "1m" }] },
      ],
    });
    await env.POLICIES.put(`tenant:${await sha256Hex(key)}`, JSON.stringify({ id: "t-semi", tier: "starter" }));
    expect(await callMany(2, "/api/x", { ip: uniqueIp(), headers: { authorization: `Bearer ${key}` } })).toEqual([
      200, 200,
    ]);
    const res = await call(`/api/x?x=1;api_key=${encodeURIComponent(key)}`, { ip: uniqueIp() });
    await res.arrayBuffer();
    expect(res.status).toBe(429);
    const nul = await call(`/api/x?api_key=${encodeURIComponent(key)}%00`, { ip: uniqueIp() });
    expect(nul.status).toBe(400);
    expect(await nul.json()).toMatchObject({ code: "AMBIGUOUS_CREDENTIALS" });
  });
});
