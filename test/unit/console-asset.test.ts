import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CLIENT_SOURCE, SCRIPT_MODULE, scriptModule } from "../../scripts/console-asset";

describe("the console's served script", () => {
  it("is generated from src/console/client/console.js (run `npm run console:build` after editing it)", async () => {
    expect(await readFile(SCRIPT_MODULE, "utf8")).toBe(scriptModule(await readFile(CLIENT_SOURCE, "utf8")));
  });

  it("never builds HTML from strings: no innerHTML, outerHTML, insertAdjacentHTML or document.write", async () => {
    const source = await readFile(CLIENT_SOURCE, "utf8");
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});
