import { describe, expect, it } from "vitest";
import { FleetAggregate, MAX_USAGE_ROWS } from "../../src/observability/fleet-aggregate";

const NOON = Date.UTC(2033, 4, 6, 12);

describe("the usage ledger in an isolate's aggregate", () => {
  it("sums units per tenant, rule and UTC day; errors and bypasses are not billed; a drain sends them once", () => {
    const a = new FleetAggregate();
    a.recordUsage("acme", "api", "admitted", 3, NOON);
    a.recordUsage("acme", "api", "admitted", 3, NOON + 1000);
    a.recordUsage("acme", "api", "cached_refusal", 3, NOON);
    a.recordUsage("acme", "api", "refused", 3, NOON);
    a.recordUsage("acme", "api", "error_open", 3, NOON);
    a.recordUsage("acme", "api", "bypass", 3, NOON);
    // One ms before midnight and at midnight: two days.
    a.recordUsage("acme", "api", "admitted", 1, Date.UTC(2033, 4, 6, 23, 59, 59, 999));
    a.recordUsage("acme", "api", "admitted", 1, Date.UTC(2033, 4, 7));
    a.recordUsage("globex", "api", "admitted", 1, NOON);
    expect(a.drain()?.usage).toEqual([
      { day: "2033-05-06", tenant: "acme", rule: "api", admitted: 7, refused: 6 },
      { day: "2033-05-07", tenant: "acme", rule: "api", admitted: 1, refused: 0 },
      { day: "2033-05-06", tenant: "globex", rule: "api", admitted: 1, refused: 0 },
    ]);
    expect(a.drain()).toBeUndefined();
  });

  it("holds at most MAX_USAGE_ROWS rows; past it a new row's units are dropped and counted", () => {
    const a = new FleetAggregate();
    for (let i = 0; i < MAX_USAGE_ROWS; i++) a.recordUsage(`t${i}`, "api", "admitted", 1, NOON);
    a.recordUsage("late", "api", "admitted", 2, NOON);
    a.recordUsage("t0", "api", "admitted", 1, NOON);
    expect(a.droppedUsage).toBe(2);
    const usage = a.drain()?.usage ?? [];
    expect(usage).toHaveLength(MAX_USAGE_ROWS);
    expect(usage[0]).toMatchObject({ tenant: "t0", admitted: 2 });
  });
});
