/**
 * The policy in force while KV has no `policy` key: 300 requests per minute
 * per client IP, with the `legacy` and `ietf` headers. It is what a newcomer
 * sees on `npm run dev`, and what a fresh deployment enforces.
 * @module
 */
import type { PolicyInput } from "./schema";

export const DEFAULT_POLICY: PolicyInput = {
  version: 1,
  headers: ["legacy", "ietf"],
  rules: [
    {
      id: "default",
      key: "ip",
      limits: [{ limit: 300, window: "1m" }],
    },
  ],
};
