/**
 * End to end: the ways around a rule of docs/security.md, over real HTTP through `wrangler dev`, in
 * front of the loopback origin (which reads bodies and routes paths the way Express, Tomcat and Rails
 * do). Every request comes from 127.0.0.1, so a body key counted by IP would look like one counted
 * by address: the tests tell them apart with a second address, which must still be admitted.
 */
import { request as httpRequest } from "node:http";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminToken, fetchDrained, putPolicy } from "../support/http";
import { type OriginServer, startOriginServer } from "../support/origin-server";
import { freePort, sluiceVars, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";

const TOKEN = adminToken("e2e-admin");
const LOGIN = "/api/v1/auth/login";
const ROUTE = "/api/v1/transfers";

describe("nothing gets around a rule, over HTTP", () => {
  let origin: OriginServer;
  let dev: WranglerDev;

  beforeAll(async () => {
    origin = await startOriginServer(await freePort());
    dev = await startWranglerDev({ vars: sluiceVars({ origin: origin.url, token: TOKEN }) });
    await putPolicy(dev.url, TOKEN, {
      version: 1,
      sandbox: { multiplier: 10, hosts: ["sandbox.test"] },
      rules: [
        {
          id: "login-email",
          match: { methods: ["POST"], paths: [LOGIN] },
          key: "body:email",
          limits: [{ limit: 3, window: "1h" }],
        },
        { id: "transfers", match: { paths: [ROUTE] }, key: "ip", limits: [{ limit: 2, window: "1h" }] },
      ],
    });
  });

  afterAll(async () => {
    await dev?.stop();
    await origin?.close();
  });

  async function login(
    headers: Record<string, string>,
    body: NonNullable<RequestInit["body"]>,
  ): Promise<{ status: number; json: unknown }> {
    const chunked = body instanceof ReadableStream;
    const res = await fetch(`${dev.url}${LOGIN}`, {
      method: "POST",
      headers,
      body,
      ...(chunked ? { duplex: "half" } : {}),
    } as RequestInit);
    return { status: res.status, json: await res.json() };
  }

  it("counts one address however its body is spelled: chunked 17 KB JSON, gzip, text/plain", async () => {
    const victim = `victim-${Date.now()}@x.test`;
    const padded = `${JSON.stringify({ email: victim, password: "g" })}${" ".repeat(17_000)}`;
    const chunks = new TextEncoder().encode(padded);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < chunks.length; i += 4096) c.enqueue(chunks.slice(i, i + 4096));
        c.close();
      },
    });
    const attempts = [
      await login({ "content-type": "application/json" }, stream),
      await login(
        { "content-type": "application/json", "content-encoding": "gzip" },
        gzipSync(JSON.stringify({ email: victim })),
      ),
      await login({ "content-type": "text/plain" }, JSON.stringify({ email: victim })),
    ];
    for (const a of attempts) {
      expect(a.status).toBe(200);
      expect((a.json as { fields: { email: string } }).fields.email).toBe(victim);
    }
    const form = await login(
      { "content-type": "application/x-www-form-urlencoded" },
      new URLSearchParams({ email: victim }).toString(),
    );
    expect(form.status).toBe(429);
    // Counted by the address, not by the IP: another address from the same IP is admitted.
    const other = await login({ "content-type": "application/json" }, JSON.stringify({ email: `other-${victim}` }));
    expect(other.status).toBe(200);
  });

  it("refuses a field given twice with 400 naming the rule", async () => {
    const twice = await login(
      { "content-type": "application/x-www-form-urlencoded" },
      "email=decoy@x.test&email=victim@x.test",
    );
    expect(twice.status).toBe(400);
    expect(twice.json).toMatchObject({ code: "BODY_KEY_UNREADABLE", rule: "login-email" });
  });

  it("reads a body once, the origin's way: a long number with a decoy refused, UTF-16LE and a quoted ;filename= counted, email[0]= and a NUL refused", async () => {
    const victim = `victim16-${Date.now()}@x.test`;
    const decoy = `{"n":${"9".repeat(500)},"email":"${victim}","note":"&email=decoy@x.test&"}`;
    expect((await login({ "content-type": "text/plain" }, decoy)).status).toBe(400);
    const utf16 = Buffer.from(JSON.stringify({ email: victim }), "utf16le");
    const multipart = `--b1\r\nContent-Disposition: form-data; name="email"; x="a;filename=b"\r\n\r\n${victim}\r\n--b1--\r\n`;
    const attempts = [
      await login({ "content-type": "application/json; charset=utf-16le" }, utf16),
      await login({ "content-type": "application/json; charset=utf-16le" }, utf16),
      await login({ "content-type": "multipart/form-data; boundary=b1" }, multipart),
    ];
    for (const a of attempts) {
      expect(a.status).toBe(200);
      expect((a.json as { fields: { email: string } }).fields.email).toBe(victim);
    }
    // The 4th attempt on the address, however spelled, is refused: all three were counted on it.
    expect((await login({ "content-type": "application/json" }, JSON.stringify({ email: victim }))).status).toBe(429);
    const form = { "content-type": "application/x-www-form-urlencoded" };
    expect((await login(form, `email[0]=${encodeURIComponent(`other-${victim}`)}`)).status).toBe(400);
    expect((await login({ "content-type": "application/json" }, '{"email":"x@x.test\\u0000"}')).status).toBe(400);
  });

  it("counts every spelling of the transfers route on its counter", async () => {
    for (const _ of [1, 2]) {
      expect((await fetchDrained(`${dev.url}${ROUTE}`)).status).toBe(200);
    }
    for (const spelling of [
      "/api;/v1/transfers",
      "/api/v1/transfers;x=1",
      `/${"%2F".repeat(2740)}${ROUTE}`,
      `${"/".repeat(8200)}${ROUTE}`,
      "/api/v1/transfers.json",
      "/api/v1/tran%C5%BFfers",
    ]) {
      expect((await fetchDrained(`${dev.url}${spelling}`)).status, spelling.slice(0, 40)).toBe(429);
    }
  });

  it("refuses a sandbox host with 503 when only ORIGIN is configured; the origin never sees it", async () => {
    const tag = `sandbox-${Date.now()}`;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: dev.port, path: ROUTE, headers: { host: "sandbox.test", "x-test-tag": tag } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(503);
    expect(origin.count(tag)).toBe(0);
  });
});
