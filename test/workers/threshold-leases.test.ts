/**
 * Thresholds at the key's object when it lends (leased quota, a tree's root):
 * the units it lends count as charged, so a grant crosses a threshold; and
 * the record of a fired threshold outlives a restart of the object.
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CounterSpec } from "../../src/limiter/types";
import { uniqueTag } from "../support/client";

async function hookCalls(box: string): Promise<Array<{ status: number; body: string }>> {
  return (await (await fetch(`${env.ORIGIN}/__hooks/${box}`)).json()) as Array<{ status: number; body: string }>;
}

async function runAlarm(stub: DurableObjectStub): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return runDurableObjectAlarm(stub);
}

afterEach(() => vi.useRealTimers());

describe("thresholds with leases", () => {
  it("a grant crosses at the lender's count; a restart and a give-back do not fire it again", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2033, 6, 1, 12, 0, 0));
    const [name, box] = [`lease:${uniqueTag()}`, uniqueTag("box")];
    const spec: CounterSpec = {
      name: "q-1d",
      algorithm: "fixed",
      limit: 100,
      windowMs: 86_400_000,
      cost: 1,
      thresholds: { rule: "q", at: [0.05, 0.9], url: `${env.ORIGIN}/__hooks/${box}`, key: name },
    };
    const stub = env.LIMITER.getByName(name);
    // The request and a lease (the lender bounds it): 1 + units charged at the lender, 0.05 (5) crossed by the grant.
    const answer = await stub.take([spec], 49, 0);
    expect(answer.allowed).toBe(true);
    const units = answer.grant!.units;
    expect(units).toBeGreaterThanOrEqual(4);
    expect(await runAlarm(stub)).toBe(true);
    const first = await hookCalls(box);
    expect(first.map((c) => [c.status, JSON.parse(c.body).threshold, JSON.parse(c.body).count])).toEqual([
      [200, 0.05, 1 + units],
    ]);

    // A restart, then the lease's units given back (count 1) and charged again one by one: 0.05 is not fired twice.
    await evictDurableObject(stub);
    const again = env.LIMITER.getByName(name);
    await again.giveBack([spec], answer.grant!.id, units);
    for (let i = 0; i < units; i++) expect((await again.check({ counters: [spec] })).allowed).toBe(true);
    await runAlarm(again);
    expect(await hookCalls(box)).toHaveLength(1);
    // 90 crosses 0.9.
    for (let i = 0; i < 89 - units; i++) expect((await again.check({ counters: [spec] })).allowed).toBe(true);
    expect(await runAlarm(again)).toBe(true);
    const all = await hookCalls(box);
    expect(all.map((c) => [JSON.parse(c.body).threshold, JSON.parse(c.body).count])).toEqual([
      [0.05, 1 + units],
      [0.9, 90],
    ]);
  });
});
