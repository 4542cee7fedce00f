/**
 * Reserve, then settle through the engine over the in-memory store: the estimate read from the request,
 * a body cut short leaving it standing, a settling key decided at its object (never leased), and a
 * refusal of a settling rule not remembered (a give-back may bring its room back early).
 */
import { describe, expect, it } from "vitest";
import { MemoryCounterStore } from "../../src/adapters/memory/counter-store";
import type { EnginePorts } from "../../src/engine/context";
import { createEngine } from "../../src/engine/engine";
import type { CheckRequest } from "../../src/engine/ports";
import type { PolicyInput } from "../../src/policy/schema";
import { validatePolicy } from "../../src/policy/validate";

const T0 = 1_740_009_600_000; // a whole hour

function harness(settle: NonNullable<PolicyInput["rules"][number]["settle"]>, limit = 1_000) {
  const checked = validatePolicy({
    version: 1,
    headers: ["legacy"],
    rules: [{ id: "llm", key: "ip", cost: 100, settle, limits: [{ limit, window: "1h" }] }],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const clock = { now: () => T0 };
  const memory = new MemoryCounterStore(clock);
  const asked: CheckRequest[] = [];
  const background: Promise<unknown>[] = [];
  const ports: EnginePorts = {
    policies: { current: () => ({ compiled: checked.compiled, text: "", source: "pushed" }) },
    counters: {
      check: (key, request) => {
        asked.push(request);
        return memory.check(key, request);
      },
      release: (key, charges) => memory.release(key, charges),
      inspect: (key, counters, penalties) => memory.inspect(key, counters, penalties),
      reset: (key, names) => memory.reset(key, names),
    },
    tenants: { lookup: async () => null },
    clock,
    observer: { decided: () => {} },
    background: { waitUntil: (p) => background.push(p) },
  };
  const engine = createEngine();
  return {
    asked,
    decide: (init: RequestInit = {}) =>
      engine.decide(
        new Request("https://api.example.com/v1/chat", {
          ...init,
          headers: { "cf-connecting-ip": "203.0.113.7", ...Object.fromEntries(new Headers(init.headers)) },
        }),
        ports,
        { budgetMs: 0, sandbox: false },
      ),
    /** Everything handed to waitUntil, including what that work handed on. */
    async settled() {
      while (background.length > 0) await Promise.all(background.splice(0));
    },
  };
}

function sse(tokens: number): Response {
  const events = [
    `data: {"choices":[{"delta":{"content":"hi"}}]}\n\n`,
    `data: {"usage":{"total_tokens":${tokens}}}\n\n`,
  ];
  return new Response(
    new ReadableStream({
      pull(controller) {
        const next = events.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    }),
    { headers: { "content-type": "text/event-stream" } },
  );
}

const TOKENS = { from: "json", path: "usage.total_tokens" } as const;

describe("the engine settling a rule", () => {
  it("asks the store to decide at the key's object (settles), and debits what the stream reports", async () => {
    const h = harness(TOKENS);
    const outcome = await h.decide();
    expect(h.asked[0]!.settles).toBe(true);
    const res = outcome.finish(sse(700));
    expect(res.headers.get("ratelimit-remaining")).toBe("900");
    await res.text();
    await h.settled();
    const next = await h.decide();
    // 700 settled, 100 more reserved.
    expect(next.result.remaining).toBe(200);
  });

  it("a body the client stops reading reports nothing: the estimate stands", async () => {
    const h = harness(TOKENS);
    const outcome = await h.decide();
    const res = outcome.finish(sse(700));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await h.settled();
    expect((await h.decide()).result.remaining).toBe(800);
  });

  it("charges the estimate a JSON body states, at most max", async () => {
    const h = harness({ ...TOKENS, estimate: { body: "max_tokens", max: 500 } });
    const post = (maxTokens: number) =>
      h.decide({
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", max_tokens: maxTokens }),
      });
    expect((await post(300)).result.remaining).toBe(700);
    expect((await post(9_000)).result.remaining).toBe(200);
  });

  it("does not remember a refusal: room a settle gives back admits the next request at once", async () => {
    const h = harness({ from: "status", status: { "5xx": 0 } }, 200);
    const first = await h.decide();
    await h.decide();
    expect((await h.decide()).result.success).toBe(false);
    first.finish(new Response("upstream failed", { status: 503 }));
    await h.settled();
    const again = await h.decide();
    expect(again.result.success).toBe(true);
    expect(again.result.remaining).toBe(0);
  });
});
