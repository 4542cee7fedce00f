/**
 * The README's quick start, run as a new user runs it: `npm run dev`, then the shell block with `curl -i`
 * and the loop, each command through bash exactly as written (only the port changed), and what it printed
 * compared with the `# ` lines under it in the README. Values that move with the clock (the reset time,
 * `t=`) are checked for their range; everything else must read as the README shows it.
 */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../support/subprocess";
import { PROJECT_ROOT, roomInWindow, startNpmRunDev, type WranglerDev } from "../support/wrangler-dev";

interface Step {
  command: string;
  expected: string[];
}

/** The shell blocks of the README's "Quick start" section, as commands each followed by its `# ` output lines. */
async function quickStartSteps(): Promise<{ start: string; steps: Step[] }> {
  const readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Quick start"));
  if (!section) throw new Error("README.md has no Quick start section");
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const [start, ...rest] = blocks;
  const steps: Step[] = [];
  // The blocks that talk to the dev server (the last one, `npm test`, is the test section's).
  for (const block of rest.filter((b) => b.includes("127.0.0.1:8787"))) {
    for (const line of block.split("\n")) {
      if (line.trim() === "") continue;
      if (line.startsWith("#")) steps.at(-1)?.expected.push(line.replace(/^# ?/, ""));
      else steps.push({ command: line, expected: [] });
    }
  }
  return { start: start!.trim(), steps };
}

function curlPresent(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v curl"]);
    return true;
  } catch {
    return false;
  }
}

describe("the README's quick start, command by command", () => {
  let dev: WranglerDev;
  let doc: { start: string; steps: Step[] };

  beforeAll(async () => {
    doc = await quickStartSteps();
    if (!curlPresent()) throw new Error("the README's quick start uses curl, which is not installed here");
    dev = await startNpmRunDev("sluice-e2e-quick-start");
  });

  afterAll(async () => {
    await dev?.stop();
  });

  it("starts with `npm install && npm run dev` and then runs the curl and the loop", () => {
    expect(doc.start).toBe("npm install && npm run dev");
    expect(doc.steps.map((s) => s.command.split(" ")[0])).toEqual(["curl", "for"]);
    for (const step of doc.steps) expect(step.command).toContain("http://127.0.0.1:8787/");
  });

  it("prints what the README shows", async () => {
    // The loop must stay in one minute's window for its figures to be the README's.
    await roomInWindow(60_000, 25_000);
    const [curl, loop] = doc.steps as [Step, Step];

    const shown = await sh(curl.command);
    const lines = shown.split(/\r?\n/);
    expect(lines[0]).toBe(curl.expected[0]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const body = lines.at(-1) ?? "";
    const nowSeconds = Math.floor(Date.now() / 1000);
    for (const expected of curl.expected.slice(1)) {
      if (expected.startsWith("{")) {
        // The README elides the end of the echo with "...".
        expect(body.startsWith(expected.replace(/,?\.\.\.\}$/, ""))).toBe(true);
        continue;
      }
      const colon = expected.indexOf(":");
      const name = expected.slice(0, colon).toLowerCase();
      const value = expected.slice(colon + 1).trim();
      const actual = headers.get(name);
      expect(actual, `header ${name}`).toBeDefined();
      if (name === "ratelimit-reset") {
        // An epoch second within the minute's window.
        expect(Number(actual)).toBeGreaterThan(nowSeconds - 2);
        expect(Number(actual)).toBeLessThanOrEqual(nowSeconds + 61);
      } else if (name === "ratelimit") {
        const [, r, t] = /;r=(\d+);t=(\d+)$/.exec(actual!) ?? [];
        expect(actual!.replace(/;t=\d+$/, "")).toBe(value.replace(/;t=\d+$/, ""));
        expect(Number(r)).toBe(299);
        expect(Number(t)).toBeGreaterThanOrEqual(0);
        expect(Number(t)).toBeLessThanOrEqual(60);
      } else {
        expect(actual, `header ${name}`).toBe(value);
      }
    }

    const counted = await sh(loop.command);
    const normalise = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((l) => l.trim().replace(/\s+/g, " "));
    expect(normalise(counted)).toEqual(normalise(loop.expected.join("\n")));
  });

  async function sh(command: string): Promise<string> {
    const { code, stdout, stderr } = await run("bash", ["-c", command.replaceAll("127.0.0.1:8787", dev.url.slice(7))]);
    expect(code, stderr).toBe(0);
    return stdout;
  }
});
