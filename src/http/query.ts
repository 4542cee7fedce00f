/**
 * A query parameter's values however the origin splits the query string:
 * at `&` (WHATWG URLs, Express, servlets) and at `&` and `;` (Rack 2), so
 * `?x=1;api_key=K` carries `K`. Where the two readings differ
 * (`?api_key=K;x=1` is `K;x=1` to one and `K` to the other) both are values.
 * @module
 */

/** Every value of `name` in the query, under both splittings, in order (duplicates kept). */
export function queryValues(url: URL, name: string): string[] {
  const values = url.searchParams.getAll(name);
  if (url.search.includes(";"))
    values.push(...new URLSearchParams(url.search.slice(1).replace(/;/g, "&")).getAll(name));
  return values;
}
