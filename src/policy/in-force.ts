/**
 * A compiled policy with where it came from: what a policy source hands the engine.
 * @module
 */
import type { CompiledPolicy } from "./compile";

/**
 * `builtin`: the default while KV has none; `kv`: read from KV; `pushed`: installed by the admin API or compiled in;
 * `history`: KV holds an invalid document and this is the newest valid version from history.
 */
export type PolicyOrigin = "builtin" | "kv" | "pushed" | "history";

export interface PolicyInForce {
  compiled: CompiledPolicy;
  /** The text it was read from (KV's text, or the built-in default serialised). */
  text: string;
  source: PolicyOrigin;
  /** Its history version, when known (not for the built-in default). */
  version?: number;
}
