/**
 * Reserve, then settle, in its pure parts: the difference as charges, debits and partial give-backs
 * in each algorithm (exact at the boundary: the debt refuses the next request until the window has room
 * again), and the usage found in a response body's tail.
 */
import { describe, expect, it } from "vitest";
import { costFromHead, parseCost, settlementCharges } from "../../src/engine/settle";
import { Tail, usageIn } from "../../src/http/response-usage";
import { decide, giveBack } from "../../src/limiter/decide";
import type { Charge, CounterSpec, CounterState } from "../../src/limiter/types";
import type { CompiledSettle } from "../../src/policy/compile";

const T0 = 1_800_000_000_000; // a multiple of every window below

type States = Map<string, CounterState>;

function admit(states: States, spec: CounterSpec, now: number): Charge[] | undefined {
  const { outcome, updates } = decide(states, [spec], now, "");
  if (!outcome.allowed) return undefined;
  for (const [k, v] of updates) states.set(k, v);
  return outcome.charges;
}

function settle(states: States, charges: Charge[], actual: number, now: number): void {
  for (const [k, v] of giveBack(states, settlementCharges(charges, actual), now)) states.set(k, v);
}

const specs: CounterSpec[] = [
  { name: "f", algorithm: "fixed", limit: 2_000, windowMs: 3_600_000, cost: 100 },
  { name: "s", algorithm: "sliding", limit: 2_000, windowMs: 3_600_000, cost: 100 },
  // One token per 1.8 s: nothing refills within the few ms these tests take.
  { name: "b", algorithm: "token-bucket", limit: 2_000, windowMs: 3_600_000, cost: 100 },
];

describe("settlementCharges", () => {
  const charge: Charge = { name: "f", algorithm: "fixed", cost: 100, windowMs: 1, limit: 1, windowStart: 0 };
  it("gives back what was not used, debits what was used beyond, and asks nothing at the estimate", () => {
    expect(settlementCharges([charge], 30)).toEqual([{ ...charge, cost: 70 }]);
    expect(settlementCharges([charge], 1_200)).toEqual([{ ...charge, cost: 1_100, debit: true }]);
    expect(settlementCharges([charge], 100)).toEqual([]);
  });
});

describe.each(specs)("settling a $algorithm counter", (spec) => {
  it("debits exactly: 1,200 reported on an estimate of 100 leaves 800", () => {
    const states: States = new Map();
    settle(states, admit(states, spec, T0)!, 1_200, T0 + 1);
    // 800 left: eight more at 100, the ninth refused.
    for (let i = 0; i < 8; i++) expect(admit(states, spec, T0 + 2), `request ${i + 1}`).toBeDefined();
    expect(admit(states, spec, T0 + 2)).toBeUndefined();
  });

  it("a debt past the limit refuses the next request", () => {
    const states: States = new Map();
    const charges: Charge[][] = [];
    for (let i = 0; i < 20; i++) charges.push(admit(states, spec, T0)!);
    expect(charges.every(Boolean)).toBe(true);
    expect(admit(states, spec, T0)).toBeUndefined();
    settle(states, charges[0]!, 101, T0 + 1); // one past the limit
    settle(states, charges[1]!, 0, T0 + 1); // 100 back: still 99 short of an estimate
    expect(admit(states, spec, T0 + 2)).toBeUndefined();
    settle(states, charges[2]!, 1, T0 + 2); // 99 more back: exactly an estimate's room
    expect(admit(states, spec, T0 + 3)).toBeDefined();
    expect(admit(states, spec, T0 + 3)).toBeUndefined();
  });

  it("a reset forgives the debt: a debit into an older epoch charges nothing", () => {
    const states: States = new Map();
    const charges = admit(states, spec, T0)!;
    states.clear();
    settle(states, charges, 5_000, T0 + 1);
    expect(states.size).toBe(0);
  });
});

describe("a fixed window's debt", () => {
  it("ends with its window: the next window has its whole room", () => {
    const spec = specs[0]!;
    const states: States = new Map();
    const charges = admit(states, spec, T0)!;
    settle(states, charges, 10_000, T0 + 1);
    expect(admit(states, spec, T0 + 2)).toBeUndefined();
    for (let i = 0; i < 20; i++) expect(admit(states, spec, T0 + spec.windowMs)).toBeDefined();
    expect(admit(states, spec, T0 + spec.windowMs)).toBeUndefined();
  });
});

function tailOf(text: string, maxBytes: number, chunk = 7): Tail {
  const bytes = new TextEncoder().encode(text);
  const tail = new Tail(maxBytes);
  for (let i = 0; i < bytes.length; i += chunk) tail.push(bytes.slice(i, i + chunk));
  return tail;
}

describe("the usage in a response body", () => {
  const path = ["usage", "total_tokens"];
  const sse = [
    'data: {"choices":[{"delta":{"content":"Hel"}}]}',
    "",
    `data: {"choices":[{"delta":{"content":"${"x".repeat(5_000)}"}}]}`,
    "",
    'data: {"choices":[],"usage":{"total_tokens":1200}}',
    "",
    "data: [DONE]",
    "",
    "",
  ].join("\n");

  it("a stream's last data event that carries it, from a tail shorter than the stream", () => {
    const tail = tailOf(sse, 200);
    expect(tail.whole).toBe(false);
    expect(tail.bytes().byteLength).toBe(200);
    expect(usageIn(tail, "text/event-stream; charset=utf-8", path)).toBe(1_200);
  });

  it("nothing when the event is cut by the tail's front", () => {
    expect(usageIn(tailOf(sse, 40), "text/event-stream", path)).toBeUndefined();
  });

  it("a plain JSON body, when it fits whole; none when it does not", () => {
    const body = JSON.stringify({ id: "x", usage: { total_tokens: 42 } });
    expect(usageIn(tailOf(body, body.length), "application/json", path)).toBe(42);
    expect(usageIn(tailOf(body, body.length - 1), "application/json", path)).toBeUndefined();
  });
});

describe("the cost from a response's head", () => {
  const settleJson: CompiledSettle = {
    from: "json",
    path: ["usage", "total_tokens"],
    status: [
      { pattern: "503", cost: 5 },
      { pattern: "5xx", cost: 0 },
    ],
    maxBytes: 65_536,
  };
  it("an exact status before its class, else the body", () => {
    expect(costFromHead(settleJson, 503, new Headers())).toBe(5);
    expect(costFromHead(settleJson, 500, new Headers())).toBe(0);
    expect(costFromHead(settleJson, 200, new Headers())).toBe("body");
  });
  it("a header's whole number of at least 0; anything else leaves the estimate", () => {
    const byHeader: CompiledSettle = { from: "header", header: "x-tokens-used", status: [], maxBytes: 1 };
    expect(costFromHead(byHeader, 200, new Headers({ "x-tokens-used": "17" }))).toBe(17);
    expect(costFromHead(byHeader, 200, new Headers({ "x-tokens-used": "-1" }))).toBeUndefined();
    expect(costFromHead(byHeader, 200, new Headers())).toBeUndefined();
    expect(parseCost("2.5")).toBe(3);
    expect(parseCost("abc")).toBeUndefined();
  });
});
