/** The Hono example app in workerd, from its own wrangler.toml: the shared behaviour suite. */
import { exports } from "cloudflare:workers";
import type { WorkerFetch } from "../../shared/client";
import { describeExampleApp } from "../../shared/suite";

const worker = exports as unknown as { default: { fetch: WorkerFetch } };

describeExampleApp({ name: "Hono rateLimit()", fetch: (request) => worker.default.fetch(request) });
