/**
 * The RateLimit draft (draft-ietf-httpapi-ratelimit-headers-11) through the front door: `pk` where the
 * policy allows it, `qu="concurrent-requests"`, the problem types of `response.format: "problem"`, and a
 * fixed window's `Retry-After` never before its end, from the object and from the refusal cache. The
 * fields are read with a real Structured Fields parser.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type Item, parseList } from "structured-headers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PolicyInput } from "../../src/policy/schema";
import { call, originCount, uniqueIp, uniqueTag, usePolicy } from "../support/client";

afterEach(() => {
  vi.restoreAllMocks();
});

const QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded";
const REDUCED = "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity";

function draftPolicy(over: Partial<PolicyInput> = {}, onError: "open" | "closed" = "open"): PolicyInput {
  return {
    version: 1,
    headers: ["ietf"],
    partitionKey: true,
    response: { format: "problem" },
    rules: [
      {
        id: "api",
        key: "ip",
        onError,
        limits: [{ limit: 2, window: "1h" }, { concurrency: 3 }],
      },
    ],
    ...over,
  };
}

/** Each item of a Structured Field List as its name and parameters. */
function items(value: string | null): Array<{ name: unknown; params: Record<string, unknown> }> {
  expect(value).not.toBeNull();
  return parseList(value!).map((member) => {
    const [name, params] = member as Item;
    // Byte Sequences as arrays of numbers: ArrayBuffers do not compare by content here.
    const read = [...params].map(([k, v]) => [k, v instanceof ArrayBuffer ? [...new Uint8Array(v)] : v]);
    return { name, params: Object.fromEntries(read) };
  });
}

/** The pk of a counting key as the docs define it: the first 16 bytes of its SHA-256. */
async function expectedPk(countingKey: string): Promise<number[]> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(countingKey));
  return [...new Uint8Array(digest).subarray(0, 16)];
}

describe("the RateLimit draft in full", () => {
  it("sends pk (a hash of the counting key, never the address) and qu on both fields", async () => {
    await usePolicy(draftPolicy());
    const ip = uniqueIp();
    const res = await call("/x", { ip });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    const pk = await expectedPk(`ip:${ip}`);
    const policy = items(res.headers.get("RateLimit-Policy"));
    expect(policy).toEqual([
      { name: "api-1h", params: { q: 2, w: 3600, pk } },
      { name: "api-conc", params: { q: 3, qu: "concurrent-requests", pk } },
    ]);
    const state = items(res.headers.get("RateLimit"));
    expect(state.map((s) => s.name)).toEqual(["api-1h", "api-conc"]);
    expect(state[0]!.params).toMatchObject({ r: 1, pk });
    expect(state[1]!.params).toEqual({ r: 2, pk });
    for (const field of ["RateLimit-Policy", "RateLimit"]) expect(res.headers.get(field)).not.toContain(ip);

    // Another client is another partition.
    const other = await call("/x", { ip: uniqueIp() });
    await other.arrayBuffer();
    expect(items(other.headers.get("RateLimit"))[0]!.params.pk).not.toEqual(pk);
  });

  it("sends no pk unless the policy allows it", async () => {
    await usePolicy(draftPolicy({ partitionKey: false }));
    const res = await call("/x", { ip: uniqueIp() });
    await res.arrayBuffer();
    expect(res.headers.get("RateLimit")).not.toContain("pk=");
    expect(res.headers.get("RateLimit-Policy")).not.toContain("pk=");
    expect(items(res.headers.get("RateLimit-Policy"))[1]!.params.qu).toBe("concurrent-requests");
  });

  it("refuses with a quota-exceeded problem and a Retry-After never before the window's end, cached or not", async () => {
    await usePolicy(draftPolicy());
    const ip = uniqueIp();
    const tag = uniqueTag();
    for (let i = 0; i < 2; i++) expect((await call("/x", { ip, headers: { "x-test-tag": tag } })).status).toBe(200);
    // The third is refused by the object, the fourth from this isolate's refusal cache.
    for (let i = 0; i < 2; i++) {
      const res = await call("/x", { ip, headers: { "x-test-tag": tag } });
      expect(res.status).toBe(429);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ type: QUOTA_EXCEEDED, status: 429, "violated-policies": ["api-1h"] });
      const t = items(res.headers.get("RateLimit")).find((s) => s.name === "api-1h")!.params.t as number;
      const retryAfter = Number(res.headers.get("Retry-After"));
      expect(retryAfter).toBeGreaterThanOrEqual(t);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      // The window is the hour: its end is what the client is told.
      const toEnd = Math.ceil((3_600_000 - (Date.now() % 3_600_000)) / 1000);
      expect(Math.abs(retryAfter - toEnd)).toBeLessThanOrEqual(1);
    }
    expect(await originCount(tag)).toBe(2);
  });

  it('answers a failed counter store of an onError "closed" rule with a temporary-reduced-capacity problem', async () => {
    await usePolicy(draftPolicy({}, "closed"));
    const ip = uniqueIp();
    expect((await call("/x", { ip })).status).toBe(200);
    await runInDurableObject(env.LIMITER.getByName(`ip:${ip}`), (_o, state) => {
      state.storage.sql.exec("DROP TABLE counters");
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const tag = uniqueTag();
    const res = await call("/x", { ip, headers: { "x-test-tag": tag } });
    expect(res.status).toBe(503);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(await res.json()).toMatchObject({
      type: REDUCED,
      status: 503,
      "violated-policies": ["api-1h", "api-conc"],
    });
    expect(await originCount(tag)).toBe(0);
  });
});
