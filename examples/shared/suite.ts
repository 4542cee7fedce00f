/**
 * The behaviour every example app must show, whichever middleware it uses. Both example apps
 * serve the same routes under the same policy (`examples/shared-policy.json`):
 *
 *   GET  /health      bypass: no counting, no headers
 *   GET  /api/items   rule `api`: 5 an hour per IP
 *   GET  /me          rule `per-user`: 3 an hour per user, keyed by the app's own key function (x-user-id)
 *   POST /login       rule `login`, failures only: 3 failed logins per 15 minutes per IP (401 on a wrong password)
 *   GET  /export      rule `export`: one in flight per IP; a CSV streamed slowly (8 rows, 200 ms apart)
 */
import { beforeAll, describe, expect, it } from "vitest";
import { caller, eventually, ietfRemaining, roomInWindow, uniqueIp, uniqueTag, type WorkerFetch } from "./client";
import { expectSharedPolicyFigures } from "./parity";

export interface ExampleApp {
  /** The middleware under test, for the test names. */
  name: string;
  fetch: WorkerFetch;
  /** Runs once before the tests (e.g. puts the policy in KV). */
  setup?: () => Promise<void>;
}

const RIGHT = JSON.stringify({ password: "correct horse battery staple" });
const WRONG = JSON.stringify({ password: "hunter2" });
const json = { "content-type": "application/json" };

export function describeExampleApp(app: ExampleApp): void {
  const call = caller(app.fetch);
  if (app.setup) beforeAll(app.setup);

  describe(`${app.name}: the shared policy`, () => {
    it("gives the same figures as the front door and the other middleware", { timeout: 30_000 }, async () => {
      await expectSharedPolicyFigures(call, uniqueIp());
    });
  });

  describe(`${app.name}: headers`, () => {
    it("adds the legacy and ietf headers to the app's own response", async () => {
      const res = await call("/api/items", { ip: uniqueIp() });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ items: ["a", "b", "c"], remaining: 4 });
      expect(res.headers.get("RateLimit-Limit")).toBe("5");
      expect(res.headers.get("RateLimit-Remaining")).toBe("4");
      const reset = Number(res.headers.get("RateLimit-Reset"));
      const nowS = Date.now() / 1000;
      expect(reset).toBeGreaterThan(nowS);
      expect(reset).toBeLessThanOrEqual(Math.ceil(nowS) + 3600);
      expect(reset % 3600).toBe(0); // 1-hour windows are aligned to whole hours
      expect(res.headers.get("RateLimit-Policy")).toBe('"api-1h";q=5;w=3600');
      expect(res.headers.get("RateLimit")).toMatch(/^"api-1h";r=4;t=\d+$/);
      expect(res.headers.get("X-RateLimit-Limit")).toBeNull(); // "x" is not in the policy's families
    });

    it("sends none on a bypassed route", async () => {
      const res = await call("/health", { ip: uniqueIp() });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("ok");
      expect(res.headers.get("RateLimit-Limit")).toBeNull();
      expect(res.headers.get("RateLimit-Policy")).toBeNull();
    });
  });

  describe(`${app.name}: the boundary`, () => {
    it("admits exactly the limit and refuses the next request, without running the route", {
      timeout: 30_000,
    }, async () => {
      await roomInWindow(3_600_000, 10_000);
      const ip = uniqueIp();
      for (let i = 4; i >= 0; i--) {
        const ok = await call("/api/items", { ip });
        expect(ok.status).toBe(200);
        expect(((await ok.json()) as { remaining: number }).remaining).toBe(i);
      }
      const refused = await call("/api/items", { ip });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
      expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
      const body = (await refused.json()) as Record<string, unknown>;
      expect(body.code).toBe("RATE_LIMIT_EXCEEDED");
      expect(body).not.toHaveProperty("items");
      // Another client is not affected.
      expect((await call("/api/items", { ip: uniqueIp() })).status).toBe(200);
    });
  });

  describe(`${app.name}: concurrency`, () => {
    it("gives the slot back only when the streamed body has been read to its end", { timeout: 20_000 }, async () => {
      const ip = uniqueIp();
      const first = await call("/export", { ip });
      expect(first.status).toBe(200);
      expect(first.headers.get("RateLimit-Limit")).toBe("1");
      expect(first.headers.get("RateLimit-Remaining")).toBe("0");
      expect(first.headers.get("RateLimit-Policy")).toBe('"export-conc";q=1;qu="concurrent-requests"');

      const reader = first.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      expect(text.startsWith("id,name\n")).toBe(true);

      // Headers sent, body still streaming: the slot is held.
      const whileStreaming = await call("/export", { ip });
      await whileStreaming.arrayBuffer();
      expect(whileStreaming.status).toBe(429);
      expect(Number(whileStreaming.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
      expect(ietfRemaining(whileStreaming.headers.get("RateLimit"), "export-conc")).toBe(0);

      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
      }
      expect(text.trimEnd().split("\n")).toHaveLength(9);
      expect(text).toContain("8,row 8\n");

      // The body has ended: the release is on its way (waitUntil), and the next export is admitted.
      let admitted: Response | undefined;
      expect(
        await eventually(async () => {
          const res = await call("/export", { ip });
          if (res.status === 200) {
            admitted = res;
            return true;
          }
          await res.arrayBuffer();
          return false;
        }),
      ).toBe(true);
      // A client that goes away mid-body gives the slot back too.
      await admitted!.body!.cancel();
      expect(
        await eventually(async () => {
          const res = await call("/export", { ip });
          const ok = res.status === 200;
          await res.body?.cancel();
          return ok;
        }),
      ).toBe(true);
    });
  });

  describe(`${app.name}: failures only`, () => {
    it("never uses the limit up with successes, and refuses after the limit of failures", async () => {
      const ip = uniqueIp();
      const login = (body: string) => call("/login", { ip, method: "POST", headers: json, body });
      for (let i = 0; i < 5; i++) {
        const ok = await login(RIGHT);
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({ token: "t0k3n" });
        expect(ok.headers.get("RateLimit-Limit")).toBe("3");
        expect(ok.headers.get("RateLimit-Remaining")).toBe("3");
      }
      for (const left of [2, 1, 0]) {
        const failed = await login(WRONG);
        expect(failed.status).toBe(401);
        expect(failed.headers.get("RateLimit-Remaining")).toBe(String(left));
        await failed.arrayBuffer();
      }
      const refused = await login(WRONG);
      await refused.arrayBuffer();
      expect(refused.status).toBe(429);
      // Failures used it up: now every attempt is refused, a right password too.
      const blocked = await login(RIGHT);
      await blocked.arrayBuffer();
      expect(blocked.status).toBe(429);
    });
  });

  describe(`${app.name}: a key function of the app's own`, () => {
    it("counts /me per user (x-user-id), across IPs, and per IP without the header", async () => {
      const [alice, bob] = [uniqueTag("alice"), uniqueTag("bob")];
      const [home, phone] = [uniqueIp(), uniqueIp()];
      for (const left of [2, 1, 0]) {
        const res = await call("/me", { ip: home, headers: { "x-user-id": alice } });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ user: alice });
        expect(res.headers.get("RateLimit-Remaining")).toBe(String(left));
      }
      // The same user from another IP shares the counter.
      const elsewhere = await call("/me", { ip: phone, headers: { "x-user-id": alice } });
      await elsewhere.arrayBuffer();
      expect(elsewhere.status).toBe(429);
      // Another user from the same IP has a counter of their own.
      const other = await call("/me", { ip: home, headers: { "x-user-id": bob } });
      expect(other.status).toBe(200);
      expect(other.headers.get("RateLimit-Remaining")).toBe("2");
      await other.arrayBuffer();
      // No user id: the rule's own key, the client IP (which alice's requests did not use).
      const anonymous = await call("/me", { ip: home });
      expect(anonymous.status).toBe(200);
      expect(anonymous.headers.get("RateLimit-Remaining")).toBe("2");
      await anonymous.arrayBuffer();
    });
  });
}
