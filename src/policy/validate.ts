/**
 * Turning text into a policy, or into a list of `{path, message}` errors an
 * operator can act on. Used by the KV loader, the admin API and the CLI alike.
 * @module
 */
import type { z } from "zod";
import { type CompiledPolicy, compilePolicy } from "./compile";
import { english } from "./english";
import { type Policy, PolicySchema } from "./schema";

export interface PolicyError {
  /** JSON path of the field at fault, `""` for the document itself: `rules[0].limits[1].window`. */
  path: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; policy: Policy; compiled: CompiledPolicy }
  | { ok: false; errors: PolicyError[] };

export function validatePolicy(input: unknown): ValidationResult {
  const parsed = PolicySchema.safeParse(input, english());
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error.issues) };
  return { ok: true, policy: parsed.data, compiled: compilePolicy(parsed.data) };
}

export function validatePolicyText(text: string): ValidationResult {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: "", message: `invalid JSON: ${(e as Error).message}` }] };
  }
  return validatePolicy(input);
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): PolicyError[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: "unknown field" }));
    }
    if (issue.code === "invalid_key") {
      // A record key that failed its own check: say what the key must be, not just that it is invalid.
      const inner = issue.issues[0]?.message;
      return [{ path: formatPath(issue.path), message: inner ? `invalid name: ${inner}` : issue.message }];
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}
