/**
 * The front door under `examples/shared-policy.json`: the same six requests as the example apps'
 * tests (Hono and itty-router middlewares) must give the same figures and the 429 at the same
 * request (examples/shared/parity.ts).
 */
import { exports } from "cloudflare:workers";
import { afterEach, describe, it } from "vitest";
import { caller, uniqueIp } from "../../examples/shared/client";
import { expectSharedPolicyFigures, sharedPolicy } from "../../examples/shared/parity";
import { useBuiltinPolicy, usePolicy } from "../support/client";

afterEach(useBuiltinPolicy);

describe("the shared policy document", () => {
  it("gives the figures the Hono and itty-router middlewares give", { timeout: 30_000 }, async () => {
    await usePolicy(JSON.stringify(sharedPolicy));
    await expectSharedPolicyFigures(
      caller((request) => exports.default.fetch(request)),
      uniqueIp(),
    );
  });
});
