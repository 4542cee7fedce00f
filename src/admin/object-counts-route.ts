/**
 * `GET /object-counts` (admin API, any token): what this isolate's Durable
 * Objects were asked to do (src/observability/object-counts.ts). Answered
 * only when the `OBJECT_COUNTS` var is `"true"`, as `npm run bench` sets it
 * under `wrangler dev`, where every object runs in this isolate; otherwise
 * 404, since in production the objects run elsewhere and the figures would be
 * zeros that look like measurements.
 * @module
 */
import type { Hono } from "hono";
import type { Env } from "../env";
import { objectCounts } from "../observability/object-counts";
import { problem } from "./app";

// biome-ignore lint/suspicious/noExplicitAny: the admin app's Variables are its own; this route uses only Bindings.
export function mountObjectCounts<E extends { Bindings: Env; Variables: any }>(admin: Hono<E>): void {
  admin.get("/object-counts", (c) => {
    if (c.env.OBJECT_COUNTS !== "true")
      return problem(
        404,
        "not_found",
        "object counts are served only with OBJECT_COUNTS=true (local runs, where the objects share this isolate)",
      );
    return c.json(objectCounts(), 200, { "Cache-Control": "no-store" });
  });
}
