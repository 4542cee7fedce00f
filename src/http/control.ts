/**
 * Control characters in a key's value. Origins treat them differently (one
 * strips a trailing NUL, a C library cuts the string at it, another keeps it),
 * so a value holding one has no single reading.
 * @module
 */

/** True when `s` holds a C0 control character other than tab (legal inside a header value), or DEL. */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/** `s` without its control characters. */
export function withoutControl(s: string): string {
  let out = "";
  for (const ch of s) if (!hasControl(ch)) out += ch;
  return out;
}

/** `s` up to its first control character (as a C string ends at NUL). */
export function beforeControl(s: string): string {
  for (let i = 0; i < s.length; i++) if (hasControl(s[i]!)) return s.slice(0, i);
  return s;
}

/** A value as origins may read it: whole; without its control characters; cut at the first one (a C string). */
export function controlReadings(value: string): string[] {
  if (!hasControl(value)) return [value];
  const readings = new Set([value, withoutControl(value).trim(), beforeControl(value).trim()]);
  readings.delete("");
  return [...readings];
}
