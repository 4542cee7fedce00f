/**
 * `npm run coverage`: line and branch coverage of `src/` per test tier, as a table per folder.
 *
 * The plain-Node units run with V8 coverage; the workerd tier with Istanbul, because V8 coverage cannot
 * reach inside workerd. Each tier is its own vitest run with its own report (coverage/<tier>/), so the
 * figures say what each tier alone exercises. No thresholds: the figures are for reading.
 *
 * `npm run coverage -- unit` runs one tier; `--quiet` shows a tier's test output only when it fails.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

interface Tier {
  project: string;
  provider: "v8" | "istanbul";
}

const TIERS: Tier[] = [
  { project: "unit", provider: "v8" },
  { project: "workers", provider: "istanbul" },
];

interface Count {
  covered: number;
  total: number;
}
interface FileSummary {
  lines: Count;
  branches: Count;
}

const root = process.cwd();
const args = process.argv.slice(2);
const quiet = args.includes("--quiet");
const wanted = args.filter((a) => a !== "--quiet");
const tiers = wanted.length > 0 ? TIERS.filter((t) => wanted.includes(t.project)) : TIERS;
if (tiers.length === 0) {
  console.error(`no such tier: ${wanted.join(", ")} (tiers: ${TIERS.map((t) => t.project).join(", ")})`);
  process.exit(2);
}

const perTier = new Map<string, Map<string, { lines: Count; branches: Count }>>();
let failed = false;
for (const tier of tiers) {
  const dir = join("coverage", tier.project);
  const run = spawnSync(
    "npx",
    [
      "vitest",
      "run",
      "--project",
      tier.project,
      "--coverage.enabled",
      `--coverage.provider=${tier.provider}`,
      "--coverage.reporter=json-summary",
      `--coverage.reportsDirectory=${dir}`,
      "--coverage.include=src/**",
      // Instrumented code runs slower: a test that fits its timeout plainly may not under coverage.
      "--testTimeout=120000",
    ],
    { stdio: ["ignore", quiet ? "pipe" : "inherit", quiet ? "pipe" : "inherit"], encoding: "utf8" },
  );
  if (run.status !== 0) {
    if (quiet) process.stderr.write(`${run.stdout}${run.stderr}`);
    console.error(`coverage: the ${tier.project} tier failed`);
    failed = true;
    continue;
  }
  const summary = JSON.parse(readFileSync(join(dir, "coverage-summary.json"), "utf8")) as Record<string, FileSummary>;
  perTier.set(tier.project, byFolder(summary));
}

function folderOf(file: string): string {
  const parts = relative(root, file).split(sep);
  // src/worker.ts -> "src"; src/limiter/algorithms/x.ts -> "src/limiter"
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? file);
}

function byFolder(summary: Record<string, FileSummary>): Map<string, { lines: Count; branches: Count }> {
  const folders = new Map<string, { lines: Count; branches: Count }>();
  for (const [file, s] of Object.entries(summary)) {
    if (file === "total") continue;
    const key = folderOf(file);
    const acc = folders.get(key) ?? { lines: { covered: 0, total: 0 }, branches: { covered: 0, total: 0 } };
    acc.lines.covered += s.lines.covered;
    acc.lines.total += s.lines.total;
    acc.branches.covered += s.branches.covered;
    acc.branches.total += s.branches.total;
    folders.set(key, acc);
  }
  return folders;
}

function pct(c: Count | undefined): string {
  if (!c || c.total === 0) return "-";
  return `${((100 * c.covered) / c.total).toFixed(1)}%`;
}

const folders = [...new Set([...perTier.values()].flatMap((m) => [...m.keys()]))].sort();
const header = ["folder", ...tiers.flatMap((t) => [`${t.project} lines`, `${t.project} branches`])];
const rows = folders.map((f) => [
  f,
  ...tiers.flatMap((t) => [pct(perTier.get(t.project)?.get(f)?.lines), pct(perTier.get(t.project)?.get(f)?.branches)]),
]);
const totals = tiers.flatMap((t) => {
  const all = [...(perTier.get(t.project)?.values() ?? [])];
  const sum = (k: "lines" | "branches"): Count => ({
    covered: all.reduce((n, x) => n + x[k].covered, 0),
    total: all.reduce((n, x) => n + x[k].total, 0),
  });
  return [pct(sum("lines")), pct(sum("branches"))];
});
rows.push(["all of src", ...totals]);

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(`\nCoverage of src/ per tier (unit: V8; workers: Istanbul inside workerd)\n`);
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
process.exitCode = failed ? 1 : 0;
