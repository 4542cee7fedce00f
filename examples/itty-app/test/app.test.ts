/** The itty-router example app in workerd, from its own wrangler.toml: the shared behaviour suite. */
import { env, exports } from "cloudflare:workers";
import type { WorkerFetch } from "../../shared/client";
import { sharedPolicy } from "../../shared/parity";
import { describeExampleApp } from "../../shared/suite";

const worker = exports as unknown as { default: { fetch: WorkerFetch } };

describeExampleApp({
  name: "itty-router ittyRateLimit()",
  fetch: (request) => worker.default.fetch(request),
  // This app reads its policy from KV, as an operator would set it up.
  setup: () => (env as unknown as { POLICIES: KVNamespace }).POLICIES.put("policy", JSON.stringify(sharedPolicy)),
});
