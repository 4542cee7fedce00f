import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  CLIENT_SOURCE,
  consoleScript,
  SCRIPT_MODULE,
  scriptModule,
  VERDICTS_MARKER,
} from "../../scripts/console-asset";
import { CONSOLE_SCRIPT } from "../../src/console/script";
import { FLEET_VERDICTS } from "../../src/observability/fleet-verdict";

describe("the console's served script", () => {
  it("is generated from src/console/client/console.js (run `npm run console:build` after editing it)", async () => {
    expect(await readFile(SCRIPT_MODULE, "utf8")).toBe(scriptModule(await readFile(CLIENT_SOURCE, "utf8")));
  });

  it("never builds HTML from strings: no innerHTML, outerHTML, insertAdjacentHTML or document.write", async () => {
    const source = await readFile(CLIENT_SOURCE, "utf8");
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});

describe("the console's verdicts", () => {
  it("are FLEET_VERDICTS of src/observability/fleet-verdict.ts, in their order, in the served script", () => {
    const lists = [...CONSOLE_SCRIPT.matchAll(/const VERDICTS = (\[[^\]]*\]);/g)].map((m) => JSON.parse(m[1]!));
    expect(lists).toEqual([[...FLEET_VERDICTS]]);
  });

  it("are not listed in console.js itself: it holds the marker the build fills in", async () => {
    const source = await readFile(CLIENT_SOURCE, "utf8");
    expect(source).toContain(`const VERDICTS = ${VERDICTS_MARKER};`);
    // Outside the colour table, no verdict name is written out as a string.
    for (const verdict of FLEET_VERDICTS) expect(source).not.toContain(`"${verdict}"`);
  });

  it("each have a colour in the charts, and no colour is left over", async () => {
    const source = await readFile(CLIENT_SOURCE, "utf8");
    const table = /const COLORS = \{([^}]*)\};/.exec(source)?.[1];
    expect(table).toBeDefined();
    const named = [...table!.matchAll(/^\s*([a-z_]+):/gm)].map((m) => m[1]);
    expect(named.sort()).toEqual([...FLEET_VERDICTS].sort());
  });

  it("are written in by the build only where console.js marks the place, once", () => {
    expect(consoleScript(`const VERDICTS = ${VERDICTS_MARKER};`, ["a", "b"])).toBe('const VERDICTS = ["a","b"];');
    expect(() => consoleScript("const VERDICTS = [];")).toThrow(/exactly once/);
    expect(() => consoleScript(`${VERDICTS_MARKER} ${VERDICTS_MARKER}`)).toThrow(/exactly once/);
  });
});
