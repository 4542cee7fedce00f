import { describe, expect, it } from "vitest";
import { call, uniqueIp } from "./support/client";

describe("smoke", () => {
  it("forwards under the built-in policy with headers", async () => {
    const res = await call("/hello", { ip: uniqueIp() });
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit-Limit")).toBe("300");
    expect(res.headers.get("RateLimit-Remaining")).toBe("299");
    const body = (await res.json()) as { path: string };
    expect(body.path).toBe("/hello");
  });
});
