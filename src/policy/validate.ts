/**
 * Turning text into a policy, or into a list of `{path, message}` errors an
 * operator can act on. Used by the KV loader, the admin API and the CLI alike.
 *
 * Messages share one style: the path says where, the message starts in lower case, says what is
 * wrong and, where it can, what to write instead ("did you mean"), with no full stop.
 * @module
 */
import type { z } from "zod";
import { type CompiledPolicy, compilePolicy } from "./compile";
import { didYouMean } from "./did-you-mean";
import { english } from "./english";
import { jsonErrorOffset } from "./json-error-position";
import { checkPolicy } from "./policy-checks";
import { type Policy, PolicySchema } from "./schema";

export interface PolicyError {
  /** JSON path of the field at fault, `""` for the document itself: `rules[0].limits[1].window`. */
  path: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; policy: Policy; compiled: CompiledPolicy }
  | { ok: false; errors: PolicyError[] };

/**
 * The largest document accepted, in bytes of UTF-8: far under KV's 25 MiB per value, and far over
 * any real policy (the five published ones are under 4 KiB). Every request evaluates the rules in
 * order, so a document this size is already slow.
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

export function validatePolicy(input: unknown): ValidationResult {
  const parsed = PolicySchema.safeParse(input, english());
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error.issues) };
  const errors = checkPolicy(parsed.data);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, policy: parsed.data, compiled: compilePolicy(parsed.data) };
}

export function validatePolicyText(text: string): ValidationResult {
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_POLICY_BYTES) return { ok: false, errors: [tooLarge(size)] };
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: "", message: jsonErrorMessage(text, e as Error) }] };
  }
  return validatePolicy(input);
}

export function tooLarge(size: number): PolicyError {
  return {
    path: "",
    message: `the document is ${formatBytes(size)}; a policy may be at most ${formatBytes(MAX_POLICY_BYTES)}`,
  };
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  return `${n} bytes`;
}

/** `invalid JSON: <what the parser said> at line L, column C`, the place counted from 1. */
export function jsonErrorMessage(text: string, error: Error): string {
  // V8 quotes the text around the fault (newlines and all): keep only what it says is wrong.
  const said = error.message
    .replace(/,\s*(\.\.\.)?"[\s\S]*" is not valid JSON$/, "")
    .replace(/\s*\(line \d+ column \d+\)/, "")
    .replace(/\s+in JSON at position \d+/, "")
    .replace(/^JSON\.parse: /, "");
  const position = jsonErrorOffset(text);
  let line = 1;
  let column = 1;
  for (let i = 0; i < position; i++) {
    if (text[i] === "\n") {
      line++;
      column = 1;
    } else column++;
  }
  const lower = said.charAt(0).toLowerCase() + said.slice(1);
  return `invalid JSON: ${lower} at line ${line}, column ${column}`;
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
      const known = knownFieldsAt(issue.path);
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: `unknown field${didYouMean(key, known)}`,
      }));
    }
    if (issue.code === "invalid_key") {
      // A record key that failed its own check: say what the key must be, not just that it is invalid.
      const inner = issue.issues[0]?.message;
      return [{ path: formatPath(issue.path), message: inner ? `invalid name: ${inner}` : issue.message }];
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

type SchemaNode = { _zod: { def: Record<string, unknown> & { type: string } } };

/** The field names of the object at `path` in the policy schema (for "did you mean"). */
function knownFieldsAt(path: readonly PropertyKey[]): string[] {
  let node: SchemaNode | undefined = PolicySchema as unknown as SchemaNode;
  const unwrap = (n: SchemaNode | undefined): SchemaNode | undefined => {
    let cur = n;
    for (let i = 0; cur && i < 10; i++) {
      const def = cur._zod.def;
      if (def.innerType) cur = def.innerType as SchemaNode;
      else if (def.type === "pipe") cur = def.in as SchemaNode;
      else break;
    }
    return cur;
  };
  for (const step of path) {
    node = unwrap(node);
    if (!node) return [];
    const def = node._zod.def;
    if (typeof step === "number" && def.type === "array") node = def.element as SchemaNode;
    else if (typeof step === "string" && def.type === "object") node = (def.shape as Record<string, SchemaNode>)[step];
    else return [];
  }
  node = unwrap(node);
  if (node?._zod.def.type !== "object") return [];
  return Object.keys(node._zod.def.shape as Record<string, unknown>);
}
