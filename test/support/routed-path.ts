/**
 * The route a generous origin framework dispatches a path to: Tomcat, Jetty and
 * Spring strip `;` path parameters per segment; Rails and Tomcat merge slashes
 * and decode escapes; Rails routes `/x.json` to `/x` (format suffix); a
 * case-insensitive router folds case (`ſ` is `s`). No Node imports: the
 * workerd tests use it too.
 */
/** The route an origin that is generous in all the ways above would dispatch this path to. */
export function routedPath(rawPath: string): string {
  let path = rawPath;
  for (let i = 0; i < 3; i++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      break;
    }
    if (decoded === path) break;
    path = decoded;
  }
  const segments = path
    .split("/")
    .map((s) => s.split(";")[0]!)
    .filter((s) => s !== "" && s !== ".")
    .map((s) => s.normalize("NFKC").toUpperCase().toLowerCase());
  const out: string[] = [];
  for (const s of segments) {
    if (s === "..") out.pop();
    else out.push(s);
  }
  const last = out.length - 1;
  if (last >= 0) out[last] = out[last]!.replace(/^([^.]+)\..*$/, "$1");
  return `/${out.join("/")}`;
}
