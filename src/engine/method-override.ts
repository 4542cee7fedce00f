/**
 * The methods a POST asks its origin to treat it as. Rails
 * (`Rack::MethodOverride`: `_method` in a form body, `X-HTTP-Method-Override`),
 * Express's `method-override` (a header, `_method` in the query or the body),
 * Laravel and Symfony (`_method`, `X-HTTP-Method-Override`) and OData clients
 * (`X-HTTP-Method`) turn a POST into a DELETE or a PUT; a rule with
 * `match.methodOverride` matches the request as each of them. Origins honour
 * overrides on POST only, so only a POST is read.
 * @module
 */
import type { FieldReader } from "../http/body-formats";
import { type BodyRead, queryReaders } from "../http/body-key";

/** Headers that carry an override. */
export const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"] as const;
/** The form, query and JSON field that carries one. */
export const OVERRIDE_FIELD = "_method";

/**
 * Every method the request's overrides name, upper-case; `"any"` when the body
 * may carry one sluice cannot read (too large, undecodable, a `_method` that is
 * not a plain value): such a request then matches every method a rule names.
 */
export async function overriddenMethods(
  headers: Headers,
  url: URL,
  body: () => Promise<BodyRead>,
): Promise<ReadonlySet<string> | "any"> {
  const methods = new Set<string>();
  const add = (v: string) => {
    const m = v.trim().toUpperCase();
    if (m !== "") methods.add(m);
  };
  for (const name of OVERRIDE_HEADERS) for (const v of (headers.get(name) ?? "").split(",")) add(v);
  const read = await body();
  if (read.kind === "too-large" || read.kind === "undecodable") return "any";
  const readers: FieldReader[] = [...queryReaders(url), ...(read.kind === "read" ? read.readers : [])];
  for (const r of readers) {
    const f = r([OVERRIDE_FIELD]);
    if (f.kind === "scalar") add(f.value);
    else if (f.kind === "list") f.values.forEach(add);
    else if (f.kind !== "absent") return "any";
  }
  return methods;
}
