/**
 * Where the browser tier finds Chromium, and what it does without one: on a developer's machine it is
 * skipped with a message saying how to get one; under `CI=true` a missing browser is a failure.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export const HOW_TO_GET_CHROMIUM =
  "the console's browser test needs Chromium: `sudo apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM_PATH to a Chromium binary";

export type ChromiumDecision = { run: string } | { skip: string } | { fail: string };

/** The decision, from the environment and a way to look for a program (injected for the unit test). */
export function chromiumDecision(
  env: NodeJS.ProcessEnv,
  find: () => string | undefined = findOnSystem,
): ChromiumDecision {
  const found = env.CHROMIUM_PATH || find();
  if (found) return { run: found };
  if (env.CI && env.CI !== "false") return { fail: `CI=true and no Chromium: ${HOW_TO_GET_CHROMIUM}` };
  return { skip: `SKIPPED the operator console's browser test: ${HOW_TO_GET_CHROMIUM}` };
}

function findOnSystem(): string | undefined {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(p)) return p;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
