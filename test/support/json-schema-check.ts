/**
 * A small JSON Schema (draft 2020-12) validator for tests, covering the keywords the shipped policy
 * schema uses and refusing any other: a keyword it does not know throws, so the schema cannot gain a
 * constraint that this silently skips. No library: nothing in the project's dependencies validates JSON
 * Schema, and this is what the policy schema needs (`$ref` to its own `$defs` only).
 */

type Schema = boolean | { [keyword: string]: unknown };

/** Keywords that only annotate. */
const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "title", "description", "default", "examples", "$comment"]);
const ASSERTIONS = new Set([
  "type",
  "enum",
  "const",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "items",
  "minItems",
  "maxItems",
  "uniqueItems",
  "contains",
  "minContains",
  "maxContains",
  "anyOf",
  "oneOf",
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "$ref",
]);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

const regexes = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let r = regexes.get(pattern);
  if (!r) {
    r = new RegExp(pattern, "u");
    regexes.set(pattern, r);
  }
  return r;
}

/** Every place in `value` that breaks `schema`, as `path: keyword` strings (empty: it is valid). */
export function jsonSchemaErrors(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(root, value, "", root, errors);
  return errors;
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith("#/")) throw new Error(`only local $ref is supported: ${ref}`);
  let at: unknown = root;
  for (const part of ref.slice(2).split("/"))
    at = (at as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  if (at === undefined) throw new Error(`unresolved $ref ${ref}`);
  return at as Schema;
}

function valid(schema: Schema, value: unknown, root: Schema): boolean {
  const errors: string[] = [];
  check(schema, value, "", root, errors);
  return errors.length === 0;
}

function check(schema: Schema, value: unknown, path: string, root: Schema, errors: string[]): void {
  if (schema === true) return;
  if (schema === false) {
    errors.push(`${path}: false`);
    return;
  }
  const fail = (keyword: string) => errors.push(`${path || "(document)"}: ${keyword}`);
  for (const k of Object.keys(schema))
    if (!ANNOTATIONS.has(k) && !ASSERTIONS.has(k)) throw new Error(`unsupported JSON Schema keyword "${k}" at ${path}`);
  const s = schema as Record<string, unknown>;
  const t = typeOf(value);

  if (s.$ref !== undefined) check(resolve(root, s.$ref as string), value, path, root, errors);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((want) => want === t || (want === "number" && t === "integer"))) fail("type");
  }
  if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => equal(e, value))) fail("enum");
  if (s.const !== undefined && !equal(s.const, value)) fail("const");

  if (typeof value === "string") {
    const length = [...value].length;
    if (s.pattern !== undefined && !regex(s.pattern as string).test(value)) fail("pattern");
    if (s.minLength !== undefined && length < (s.minLength as number)) fail("minLength");
    if (s.maxLength !== undefined && length > (s.maxLength as number)) fail("maxLength");
  }
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < (s.minimum as number)) fail("minimum");
    if (s.maximum !== undefined && value > (s.maximum as number)) fail("maximum");
    if (s.exclusiveMinimum !== undefined && value <= (s.exclusiveMinimum as number)) fail("exclusiveMinimum");
    if (s.exclusiveMaximum !== undefined && value >= (s.exclusiveMaximum as number)) fail("exclusiveMaximum");
  }
  if (t === "object") {
    const obj = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in obj)) fail(`required ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      const at = `${path}/${k}`;
      if (s.propertyNames !== undefined) check(s.propertyNames as Schema, k, at, root, errors);
      if (k in props) check(props[k]!, v, at, root, errors);
      else if (s.additionalProperties !== undefined) check(s.additionalProperties as Schema, v, at, root, errors);
    }
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < (s.minItems as number)) fail("minItems");
    if (s.maxItems !== undefined && value.length > (s.maxItems as number)) fail("maxItems");
    if (s.uniqueItems === true && value.some((v, i) => value.slice(0, i).some((w) => equal(v, w)))) fail("uniqueItems");
    if (s.items !== undefined)
      for (const [i, v] of value.entries()) check(s.items as Schema, v, `${path}/${i}`, root, errors);
    if (s.contains !== undefined) {
      const n = value.filter((v) => valid(s.contains as Schema, v, root)).length;
      if (n < ((s.minContains as number | undefined) ?? 1) && s.minContains !== 0) fail("contains");
      if (s.maxContains !== undefined && n > (s.maxContains as number)) fail("maxContains");
    }
  }
  if (s.allOf !== undefined) for (const sub of s.allOf as Schema[]) check(sub, value, path, root, errors);
  if (s.anyOf !== undefined && !(s.anyOf as Schema[]).some((sub) => valid(sub, value, root))) fail("anyOf");
  if (s.oneOf !== undefined && (s.oneOf as Schema[]).filter((sub) => valid(sub, value, root)).length !== 1)
    fail("oneOf");
  if (s.not !== undefined && valid(s.not as Schema, value, root)) fail("not");
  if (s.if !== undefined) {
    if (valid(s.if as Schema, value, root)) {
      if (s.then !== undefined) check(s.then as Schema, value, path, root, errors);
    } else if (s.else !== undefined) check(s.else as Schema, value, path, root, errors);
  }
}
