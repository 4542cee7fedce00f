/**
 * A newcomer's machine: `npm test` with no Chromium skips the browser tier and says how to run it (under
 * CI=true that is a failure); tests, checks and the bench never read a developer's `.dev.vars`; nothing a
 * test or a bench run writes lands in a tracked file; the package is ready to publish.
 */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseOptions } from "../../bench/lib/options";
import { chromiumDecision, HOW_TO_GET_CHROMIUM } from "../support/chromium";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const none = () => undefined;

describe("the browser tier on a machine without Chromium", () => {
  it("is skipped with a message that says how to get one", () => {
    const decision = chromiumDecision({}, none);
    expect(decision).toEqual({ skip: `SKIPPED the operator console's browser test: ${HOW_TO_GET_CHROMIUM}` });
    expect(HOW_TO_GET_CHROMIUM).toContain("apt-get install chromium");
    expect(HOW_TO_GET_CHROMIUM).toContain("CHROMIUM_PATH");
  });

  it("fails under CI=true instead", () => {
    expect(chromiumDecision({ CI: "true" }, none)).toHaveProperty("fail");
    expect(chromiumDecision({ CI: "false" }, none)).toHaveProperty("skip");
  });

  it("runs with the one it finds, CHROMIUM_PATH first", () => {
    expect(chromiumDecision({ CHROMIUM_PATH: "/opt/chrome" }, () => "/usr/bin/chromium")).toEqual({
      run: "/opt/chrome",
    });
    expect(chromiumDecision({ CI: "true" }, () => "/usr/bin/chromium")).toEqual({ run: "/usr/bin/chromium" });
  });

  it("is what the README's test section says", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain("SKIPPED the operator console's browser");
    expect(readme).toContain("CHROMIUM_PATH");
    expect(readme).toContain("Under `CI=true` a missing browser is a failure");
  });
});

describe("a developer's .dev.vars changes no test, check or bench", () => {
  it("every wrangler the tests start and the types check read the empty env file instead", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts["types:check"]).toContain("--env-file test/support/no-dev-vars.env");
    expect(pkg.scripts.types).toContain("--env-file test/support/no-dev-vars.env");
    const starter = await readFile(join(ROOT, "test", "support", "wrangler-dev.ts"), "utf8");
    expect(starter).toMatch(/"--env-file",\s*NO_DEV_VARS/);
    const bench = await readFile(join(ROOT, "bench", "run.ts"), "utf8");
    expect(bench).toMatch(/"--env-file",\s*path\.join\(ROOT, "test", "support", "no-dev-vars\.env"\)/);
    // The file sets nothing: comments only.
    const env = await readFile(join(ROOT, "test", "support", "no-dev-vars.env"), "utf8");
    expect(env.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"))).toEqual([]);
  });
});

describe("tests and benchmarks leave the tracked tree alone", () => {
  const ignored = (path: string) => {
    try {
      execFileSync("git", ["check-ignore", "-q", path], { cwd: ROOT });
      return true;
    } catch {
      return false;
    }
  };

  it("the console test's screenshots and the bench's results go to ignored folders by default", async () => {
    expect(ignored("test-results/console/overview.png")).toBe(true);
    expect(ignored("bench/results/local/latest.json")).toBe(true);
    expect(ignored("docs/console/overview.png")).toBe(false);
    expect(parseOptions([], {}).record).toBe(false);
    expect(parseOptions(["--record"], {}).record).toBe(true);
    const consoleTest = await readFile(join(ROOT, "test", "e2e", "console.test.ts"), "utf8");
    expect(consoleTest).toContain('join(PROJECT_ROOT, "test-results", "console")');
  });
});

describe("the package is ready to publish", () => {
  it("asks for provenance, ships only what users need, and a tag runs CI before publishing", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      publishConfig?: { provenance?: boolean; access?: string };
      files: string[];
      private?: boolean;
    };
    expect(pkg.private).not.toBe(true);
    expect(pkg.publishConfig).toEqual({ access: "public", provenance: true });
    expect(pkg.files).toContain("dist/");
    const workflow = await readFile(join(ROOT, ".github", "workflows", "release.yml"), "utf8");
    expect(workflow).toContain('tags: ["v*"]');
    expect(workflow).toContain("bash .ci/run");
    expect(workflow).toContain("npm publish --provenance");
    expect(workflow.indexOf("run: bash .ci/run")).toBeLessThan(workflow.indexOf("run: npm publish"));
  });
});
