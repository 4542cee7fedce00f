/**
 * Display labels of counting keys: readable values for operators, credentials never shown, and the
 * counting keys themselves unchanged (so counters keep their objects across the upgrade).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { countingKeys, type KeySources, labelledCountingKeys } from "../../src/engine/counting-key";
import { createEngine } from "../../src/engine/engine";
import { credentialName, isCredentialKey, MAX_LABEL_VALUE, shownValue } from "../../src/engine/key-label";
import type { DecisionRecord } from "../../src/engine/ports";
import { sha256Hex } from "../../src/hash";
import { parseBody } from "../../src/http/body-key";
import { decisionLog } from "../../src/observability/decision-log";
import { FleetAggregate } from "../../src/observability/fleet-aggregate";
import { mergeKeys } from "../../src/observability/fleet-merge";
import type { CredentialPolicy, KeySpec } from "../../src/policy/compile";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000;
const API_KEY = "sk_live_Do-Not-Show-4f9a1c";

const sources = (headers: Record<string, string>, query = "", body = ""): KeySources => ({
  ipKey: "198.51.100.7",
  tenantId: undefined,
  url: new URL(`https://api.example.com/x${query}`),
  headers: new Headers(headers),
  body: async () => parseBody(body, "application/json"),
});
const header = (name: string): KeySpec => ({ kind: "header", name });

describe("which keys are credentials", () => {
  it("names that hold secrets, and not ids or emails", () => {
    for (const n of [
      "Authorization",
      "proxy-authorization",
      "Cookie",
      "x-api-key",
      "api_key",
      "apikey",
      "X-Auth-Token",
      "access_token",
      "client_secret",
      "password",
      "x-session-id",
      "partner_api_key",
    ])
      expect(credentialName(n), n).toBe(true);
    for (const n of ["x-user-id", "user_id", "email", "x-client-id", "x-forwarded-for", "account", "tenant"])
      expect(credentialName(n), n).toBe(false);
  });

  it("the policy's API key places (header, also, forbidden) are credentials whatever their names", () => {
    const credentials: CredentialPolicy = {
      accepted: [{ header: "x-partner", scheme: undefined }, { query: "k" }],
      forbidden: [{ header: "x-legacy-id" }],
      onConflict: "refuse",
    };
    expect(isCredentialKey(header("x-partner"), credentials)).toBe(true);
    expect(isCredentialKey(header("x-legacy-id"), credentials)).toBe(true);
    expect(isCredentialKey({ kind: "query", name: "k" }, credentials)).toBe(true);
    // A body key may be read from the query string too: the query place counts for it.
    expect(isCredentialKey({ kind: "body", path: ["k"], field: "k" }, credentials)).toBe(true);
    expect(isCredentialKey({ kind: "body", path: ["auth", "token"], field: "auth.token" }, credentials)).toBe(true);
    expect(isCredentialKey(header("x-user-id"), credentials)).toBe(false);
    expect(isCredentialKey({ kind: "body", path: ["email"], field: "email" }, credentials)).toBe(false);
    expect(isCredentialKey({ kind: "ip" }, credentials)).toBe(false);
    expect(isCredentialKey({ kind: "tenant" }, credentials)).toBe(false);
  });
});

describe("labelledCountingKeys", () => {
  it("shows a plain value as it is counted (trimmed, lower-cased), with the key unchanged", async () => {
    const s = sources({ "x-user-id": "  U1 " });
    const [k] = await labelledCountingKeys(header("x-user-id"), s, undefined, false);
    expect(k).toEqual({ key: `header:x-user-id:${await sha256Hex("u1")}`, label: "header:x-user-id:u1" });
    // The counting key is what it was before labels: counters keep their objects.
    expect(await countingKeys(header("x-user-id"), s)).toEqual([k!.key]);
  });

  it("never shows a credential: a hash prefix of the key's own hash", async () => {
    const s = sources({ "x-api-key": API_KEY });
    const [k] = await labelledCountingKeys(header("x-api-key"), s, undefined, true);
    const hash = await sha256Hex(API_KEY.toLowerCase());
    expect(k).toEqual({ key: `header:x-api-key:${hash}`, label: `header:x-api-key:[credential ${hash.slice(0, 8)}]` });
    expect(JSON.stringify(k).toLowerCase()).not.toContain(API_KEY.toLowerCase());
  });

  it("labels each value of a query parameter and of a body array counted on each", async () => {
    const q = await labelledCountingKeys({ kind: "query", name: "user" }, sources({}, "?user=Ann&user=bob"));
    expect(q.map((k) => k.label)).toEqual(["query:user:ann", "query:user:bob"]);
    const b = await labelledCountingKeys(
      { kind: "body", path: ["email"], field: "email" },
      sources({}, "", JSON.stringify({ email: ["Ann@Example.com", "bob@example.com"] })),
      { maxBytes: 1024, onUnreadable: "refuse", from: { body: true, query: false }, arrays: "each" },
    );
    expect(b.map((k) => k.label)).toEqual(["body:email:ann@example.com", "body:email:bob@example.com"]);
  });

  it("gives no label to a key readable as it is: an IP, a tenant, a missing value counted by IP", async () => {
    expect(await labelledCountingKeys({ kind: "ip" }, sources({}))).toEqual([{ key: "ip:198.51.100.7" }]);
    expect(await labelledCountingKeys(header("x-user-id"), sources({}))).toEqual([{ key: "ip:198.51.100.7" }]);
    expect(await labelledCountingKeys({ kind: "tenant" }, { ...sources({}), tenantId: "acme" })).toEqual([
      { key: "tenant:acme" },
    ]);
  });

  it("cuts a long value and escapes what cannot be seen", () => {
    const long = "a".repeat(500);
    expect(shownValue(long)).toBe(`${"a".repeat(MAX_LABEL_VALUE)}…`);
    expect(shownValue("u1\u0000\u202eevil\n")).toBe("u1\\u0000\\u202eevil\\u000a");
    // Characters, not UTF-16 units: a cut never splits a surrogate pair.
    expect(shownValue("😀".repeat(MAX_LABEL_VALUE + 1))).toBe(`${"😀".repeat(MAX_LABEL_VALUE)}…`);
    expect(shownValue("😀".repeat(MAX_LABEL_VALUE))).toBe("😀".repeat(MAX_LABEL_VALUE));
    expect(shownValue(`${"😀".repeat(MAX_LABEL_VALUE - 1)}ab`)).toBe(`${"😀".repeat(MAX_LABEL_VALUE - 1)}a…`);
    expect(shownValue("a".repeat(MAX_LABEL_VALUE))).toBe("a".repeat(MAX_LABEL_VALUE));
  });
});

describe("labels through the engine, the log and the fleet figures", () => {
  const logged: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    logged.length = 0;
  });

  function harness(document: PolicyInput) {
    const checked = validatePolicy(document);
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const clock = { now: () => T0 };
    const records: DecisionRecord[] = [];
    const aggregate = new FleetAggregate();
    const ports: EnginePorts = {
      policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
      counters: new MemoryCounterStore(clock),
      tenants: { lookup: async () => null },
      clock,
      observer: {
        decided: (r) => {
          records.push(r);
          decisionLog.decided(r);
          for (const v of r.verdicts)
            aggregate.record(v.rule, v.verdict as "refused", T0, r.refusal?.key, r.refusal?.label);
        },
      },
      background: { waitUntil: () => {} },
    };
    const engine = createEngine();
    const request = (headers: Record<string, string>) =>
      engine.decide(
        new Request("https://api.example.com/api", { headers: { "cf-connecting-ip": "203.0.113.7", ...headers } }),
        ports,
        { budgetMs: 0, sandbox: false },
      );
    return { records, aggregate, request };
  }

  it("a refused user id is labelled plainly; a refused API key only by its hash, in the record, the log and the batch", async () => {
    for (const m of ["log", "warn", "error"] as const)
      vi.spyOn(console, m).mockImplementation((line: string) => logged.push(line));
    const h = harness({
      version: 1,
      rules: [
        {
          id: "per-user",
          match: { paths: ["/api"] },
          key: "header:x-user-id",
          continue: true,
          limits: [{ limit: 1, window: "1m" }],
        },
        { id: "per-key", match: { paths: ["/api"] }, key: "header:x-api-key", limits: [{ limit: 1, window: "1m" }] },
      ],
    });
    // One request each admitted, then each refused by its own rule (the user's first, then a new user's key).
    expect((await h.request({ "x-user-id": "U1", "x-api-key": API_KEY })).result.success).toBe(true);
    expect((await h.request({ "x-user-id": "U1", "x-api-key": "other" })).result.success).toBe(false);
    expect((await h.request({ "x-user-id": "u2", "x-api-key": API_KEY })).result.success).toBe(false);
    // The refusal cache answers the next one: its record carries the label too.
    expect((await h.request({ "x-user-id": "u1", "x-api-key": "third" })).result.reason).toBe("cached");

    const refusals = h.records.filter((r) => r.refusal).map((r) => [r.refusal!.report.rule, r.refusal!.label]);
    const hash = (await sha256Hex(API_KEY.toLowerCase())).slice(0, 8);
    expect(refusals).toEqual([
      ["per-user", "header:x-user-id:u1"],
      ["per-key", `header:x-api-key:[credential ${hash}]`],
      ["per-user", "header:x-user-id:u1"],
    ]);

    const refusedLines = logged.map((l) => JSON.parse(l)).filter((l) => l.event === "request.refused");
    expect(refusedLines.map((l) => l.label)).toEqual(refusals.map(([, label]) => label));
    const batch = h.aggregate.drain()!;
    expect(batch.keys.map((k) => [k.rule, k.label]).sort()).toEqual([
      ["per-key", `header:x-api-key:[credential ${hash}]`],
      ["per-user", "header:x-user-id:u1"],
    ]);
    for (const text of [...logged, JSON.stringify(batch), JSON.stringify(h.records)])
      expect(text.toLowerCase()).not.toContain(API_KEY.toLowerCase());
  });

  it("Authorization (the policy's API key header) is a credential even with a key rule on it", async () => {
    const h = harness({
      version: 1,
      rules: [{ id: "by-auth", key: "header:authorization", limits: [{ limit: 1, window: "1m" }] }],
    });
    await h.request({ authorization: `Bearer ${API_KEY}` });
    await h.request({ authorization: `Bearer ${API_KEY}` });
    const label = h.records.find((r) => r.refusal)!.refusal!.label!;
    expect(label).toMatch(/^header:authorization:\[credential [0-9a-f]{8}\]$/);
  });
});

describe("labels in the merged top keys", () => {
  it("a key's label survives the merge of shards, one of which stored it before labels", () => {
    const merged = mergeKeys(
      [
        [{ rule: "r", key: "header:x-user-id:abc", n: 2 }],
        [{ rule: "r", key: "header:x-user-id:abc", label: "header:x-user-id:u1", n: 3 }],
      ],
      10,
    );
    expect(merged).toEqual([{ rule: "r", key: "header:x-user-id:abc", label: "header:x-user-id:u1", n: 5 }]);
  });
});
