/**
 * The layers of src/ as docs/architecture.md draws them, read from the import lines of every file: the
 * Durable Objects (src/durable/) are the bottom of the Workers adapter, so they import nothing from the
 * adapters above them, the admin API or the Worker's `Env`, and nothing below them imports them back;
 * src/limiter/ is pure arithmetic on injected time, without asynchronous code (the lease protocol is in
 * src/lease/).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = join(ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** A file's path from the repository root, with `/` between folders. */
function repoPath(path: string): string {
  return relative(ROOT, path).split("\\").join("/");
}

/** Every relative module a file imports or re-exports (types too), as a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specs.map((spec) => repoPath(resolve(dirname(file), spec)).replace(/\.(js|ts)$/, ""));
}

const FILES = sourceFiles(SRC).map((file) => ({ file: repoPath(file), imports: importsOf(file) }));

function importsFrom(from: (file: string) => boolean, to: (module: string) => boolean): string[] {
  return FILES.filter((f) => from(f.file)).flatMap((f) => f.imports.filter(to).map((m) => `${f.file} → ${m}`));
}

const under = (folder: string) => (path: string) => path.startsWith(`src/${folder}/`);
const anyOf =
  (...tests: Array<(path: string) => boolean>) =>
  (path: string) =>
    tests.some((t) => t(path));
const isModule = (module: string) => (path: string) => path.replace(/\.ts$/, "") === module;

/** The layers the objects sit on: none of them may reach up into the Workers adapter or the objects. */
const BELOW_DURABLE = anyOf(
  under("limiter"),
  under("lease"),
  under("policy"),
  under("engine"),
  under("http"),
  under("observability"),
  under("kv"),
  under("net"),
  isModule("src/hash"),
  isModule("src/log"),
);

describe("src/durable/ is the bottom of the Workers adapter", () => {
  it("reads the file list (the check below would pass on no files)", () => {
    expect(FILES.filter((f) => under("durable")(f.file)).length).toBeGreaterThan(3);
    expect(FILES.find((f) => f.file === "src/durable/rate-limiter.ts")?.imports).toContain(
      "src/durable/rate-limiter-client",
    );
  });

  it("imports nothing from the adapters, the admin API, the middlewares, the CLI or the Worker's Env", () => {
    const above = anyOf(
      under("adapters"),
      under("admin"),
      under("middleware"),
      under("cli"),
      isModule("src/env"),
      isModule("src/worker"),
      isModule("src/index"),
      isModule("src/itty"),
    );
    expect(importsFrom(under("durable"), above)).toEqual([]);
  });

  it("is not imported back by the layers below it, nor are the adapters or the admin API", () => {
    expect(importsFrom(BELOW_DURABLE, anyOf(under("durable"), under("adapters"), under("admin")))).toEqual([]);
  });
});

describe("src/limiter/ is pure", () => {
  it("has no asynchronous code: no async, await or Promise", () => {
    const limiter = FILES.filter((f) => under("limiter")(f.file));
    expect(limiter.length).toBeGreaterThan(5);
    const asynchronous = limiter
      .filter((f) => /\b(async|await|Promise)\b/.test(readFileSync(join(ROOT, f.file), "utf8")))
      .map((f) => f.file);
    expect(asynchronous).toEqual([]);
  });
});
