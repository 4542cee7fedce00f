/**
 * `--override <limit>=<number>|x<multiplier>[@<expiry>]` of `tenant add`:
 * `api-1m=5000`, `api-1d=x2`, `api-1m=5000@2026-12-01T00:00:00Z`.
 * @module
 */
import type { Overrides } from "../policy/overrides";
import { CliError } from "./errors";

const FORM = /^([^=]+)=(x?)([0-9]+(?:\.[0-9]+)?)(?:@(.+))?$/;

export function parseOverride(text: string, into: Record<string, unknown> = {}): Record<string, unknown> {
  const m = FORM.exec(text.trim());
  if (!m)
    throw new CliError(
      `--override ${text}: expected <limit>=<number> or <limit>=x<multiplier>, optionally @<ISO expiry> (e.g. api-1m=5000@2026-12-01T00:00:00Z)`,
    );
  const [, name, times, value, expires] = m;
  into[name!] = {
    ...(times ? { multiplier: Number(value) } : { limit: Number(value) }),
    ...(expires !== undefined ? { expires } : {}),
  };
  return into;
}

/** commander's collector for a repeated option. */
export function collectOverride(text: string, previous: Overrides | undefined): Overrides {
  return parseOverride(text, { ...(previous ?? {}) }) as Overrides;
}
