/**
 * A policy document compiled into your Worker, for the middlewares' `policy`
 * option: the same document an operator would put in KV `policy`, checked
 * once, when the Worker starts, instead of read from KV.
 *
 * @example
 * import { fixedPolicy, rateLimit } from "sluice";
 * import document from "./policy.json";
 * app.use("*", rateLimit({ policy: fixedPolicy(document) }));
 * @module
 */
import type { PolicyInForce } from "./in-force";
import type { PolicyInput } from "./schema";
import { type PolicyError, validatePolicy, validatePolicyText } from "./validate";

/** Thrown by {@link fixedPolicy} for a document that is not a valid policy; `errors` lists every fault. */
export class PolicyDocumentError extends Error {
  readonly errors: PolicyError[];
  constructor(errors: PolicyError[]) {
    super(`invalid policy document: ${errors.map((e) => `${e.path || "(document)"}: ${e.message}`).join("; ")}`);
    this.name = "PolicyDocumentError";
    this.errors = errors;
  }
}

/**
 * Validates `document` (an object, or its JSON text) at once and returns the
 * `policy` option of `createLimiter()`, `rateLimit()` and `ittyRateLimit()`.
 * An invalid document throws a {@link PolicyDocumentError} here, at module
 * load, never on a request. A JSON import (whose fields TypeScript widens to
 * `string`) is accepted as it is: the check is the validation.
 *
 * @example
 * const limit = ittyRateLimit({ policy: fixedPolicy({ version: 1, rules: [{ id: "all", key: "ip", limits: [{ limit: 100, window: "1m" }] }] }) });
 */
export function fixedPolicy(document: PolicyInput): () => PolicyInForce;
export function fixedPolicy(document: string | object): () => PolicyInForce;
export function fixedPolicy(document: string | object): () => PolicyInForce {
  const text = typeof document === "string" ? document : JSON.stringify(document);
  const result = typeof document === "string" ? validatePolicyText(document) : validatePolicy(document);
  if (!result.ok) throw new PolicyDocumentError(result.errors);
  const inForce: PolicyInForce = { compiled: result.compiled, text, source: "pushed" };
  return () => inForce;
}
