/**
 * Under `wrangler dev`, over HTTP, in front of a loopback origin that streams an LLM's answer as
 * server-sent events: a rule reserves its estimate and settles at the tokens the stream's last JSON
 * event reports, exactly; the debt refuses the next request; a 5xx is settled at 0.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminJson, adminToken, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { delay, freePort, roomInWindow, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = adminToken("settle-e2e");
const LIMIT = 2_000;
const ESTIMATE = 100;
const HOUR = 3_600_000;

describe("reserve, then settle under wrangler dev", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
    await putPolicy(dev.url, TOKEN, {
      version: 1,
      headers: ["legacy"],
      rules: [
        {
          id: "llm",
          key: "header:x-client",
          cost: ESTIMATE,
          settle: { from: "json", path: "usage.total_tokens", status: { "5xx": 0 } },
          limits: [{ limit: LIMIT, window: "1h" }],
        },
      ],
    });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  /** A request whose body is read to its end (which settles it), as text. */
  const send = async (path: string, client: string) => {
    const res = await fetch(`${dev.url}${path}`, { headers: { "x-client": client } });
    const text = await res.text();
    return { status: res.status, remaining: res.headers.get("ratelimit-remaining"), text };
  };

  /** The key's room at its object, once the settle (after the response, in waitUntil) has landed. */
  const settledTo = async (client: string, expected: number) => {
    let seen = -1;
    for (let i = 0; i < 100; i++) {
      const body = (await adminJson(dev.url, TOKEN, `/keys?rule=llm&key=${client}`)) as {
        limits: Array<{ remaining: number }>;
      };
      seen = body.limits[0]!.remaining;
      if (seen === expected) break;
      await delay(50);
    }
    return seen;
  };

  it("debits exactly the 1,200 tokens a streamed answer reports; the debt refuses the next request", async () => {
    await roomInWindow(HOUR, 60_000);
    const client = `c-${Math.random().toString(36).slice(2)}`;

    // A JSON answer without the field: its estimate stands.
    const echo = await send("/v1/chat", client);
    expect(echo.status).toBe(200);
    expect(await settledTo(client, LIMIT - ESTIMATE)).toBe(LIMIT - ESTIMATE);

    const streamed = await send("/sse?tokens=1200", client);
    expect(streamed.status).toBe(200);
    expect(streamed.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(streamed.remaining).toBe(String(LIMIT - 2 * ESTIMATE));
    // 100 (the echo, no usage: its estimate stands) + 1,200.
    expect(await settledTo(client, LIMIT - ESTIMATE - 1_200)).toBe(700);

    // 1,300 used: 100 more reports 600, leaving exactly one estimate's room.
    await send("/sse?tokens=600", client);
    expect(await settledTo(client, 100)).toBe(100);
    const last = await send("/sse?tokens=500", client);
    expect(last.status).toBe(200);
    expect(last.remaining).toBe("0");
    expect(await settledTo(client, 0)).toBe(0);
    expect((await send("/sse?tokens=1", client)).status).toBe(429);
  });

  it("settles a 5xx at 0", async () => {
    await roomInWindow(HOUR, 30_000);
    const client = `c-${Math.random().toString(36).slice(2)}`;
    const failed = await send("/status/503", client);
    expect(failed.status).toBe(503);
    expect(failed.remaining).toBe(String(LIMIT - ESTIMATE));
    expect(await settledTo(client, LIMIT)).toBe(LIMIT);
  });
});
