/**
 * `npm run bench`: sluice against a pass-through ceiling and its peers, each
 * a Worker under `wrangler dev` on loopback, all forwarding to one loopback
 * origin. See bench/README.md for what is measured and how to read it.
 *
 * Benchmark harness, not product code: it only starts processes of its own,
 * and kills every one of them at the end, on error and on SIGINT/SIGTERM.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  CLIENT_ALGORITHMS,
  CLIENT_DEFAULTS,
  type ClientRun,
  clientMarkdown,
  clientPolicy,
  runClient,
} from "./lib/client";
import { type BurstResult, burst, type LoadResult, load, loadAutocannon, request } from "./lib/load";
import { type ObjectCountsRead, objectWork, readObjectCounts } from "./lib/object-counts";
import { type Options, parseOptions, type Scenario } from "./lib/options";
import { type Origin, startOrigin } from "./lib/origin";
import { freePorts, groupCpuMs, killAll, killAllSync, killGroup, lastStartedPgid, startGroup, tail } from "./lib/procs";
import {
  fmtInt,
  fmtMs,
  type Measurement,
  markdown,
  notApplicable,
  type ReportMeta,
  summarize,
  type WorkerInfo,
} from "./lib/report";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, "..");
const RESULTS_DIR = path.join(BENCH_DIR, "results");

// `headers`: sends RateLimit headers on a forwarded 2xx. hono-rate-limiter sets them with c.header() before
// next(), and Hono applies those only to a response it builds itself, not to the origin's Response a handler
// returns; so on this front door its 2xx carry none (its 429s do).
interface WorkerDef extends WorkerInfo {
  /** wrangler config, relative to the repository root. */
  config: string;
}

const WORKERS: WorkerDef[] = [
  {
    id: "passthrough",
    label: "passthrough (no limiter)",
    config: "bench/peers/passthrough.toml",
    limiter: false,
    multi: false,
    headers: false,
  },
  { id: "sluice", label: "sluice", config: "wrangler.toml", limiter: true, multi: true, headers: true },
  {
    id: "sluice-candidate",
    label: "sluice, with a candidate policy in shadow",
    config: "wrangler.toml",
    limiter: true,
    multi: true,
    headers: true,
  },
  {
    id: "hrl-do",
    label: "hono-rate-limiter (Durable Object store)",
    config: "bench/peers/hrl-durable-object.toml",
    limiter: true,
    multi: false,
    headers: false,
  },
  {
    id: "hrl-kv",
    label: "hono-rate-limiter (KV store)",
    config: "bench/peers/hrl-kv.toml",
    limiter: true,
    multi: false,
    headers: false,
  },
  {
    id: "cf-ratelimit",
    label: "Workers Rate Limiting binding",
    config: "bench/peers/cf-ratelimit.toml",
    limiter: true,
    multi: false,
    headers: false,
  },
];

/** Limits of the benchmark paths: the same numbers as bench/peers/limits.ts and bench/peers/cf-ratelimit.toml. */
const NEVER = 1_000_000_000;
const REFUSED_LIMIT = 10;

function sluicePolicy(burstLimit: number): unknown {
  const byKey = "header:x-bench-key";
  return {
    version: 1,
    headers: ["legacy", "ietf"],
    rules: [
      { id: "admitted", match: { paths: ["/admitted"] }, key: byKey, limits: [{ limit: NEVER, window: "1h" }] },
      { id: "hot", match: { paths: ["/hot"] }, key: byKey, limits: [{ limit: NEVER, window: "1h" }] },
      { id: "refused", match: { paths: ["/refused"] }, key: byKey, limits: [{ limit: REFUSED_LIMIT, window: "1h" }] },
      { id: "burst", match: { paths: ["/burst"] }, key: byKey, limits: [{ limit: burstLimit, window: "1h" }] },
      {
        id: "multi",
        match: { paths: ["/multi"] },
        key: byKey,
        limits: [
          { limit: 1_000_000, window: "1s", algorithm: "token-bucket" },
          { limit: 100_000_000, window: "1m", algorithm: "sliding" },
          { limit: NEVER, window: "1d" },
        ],
      },
    ],
  };
}

/** The same rules with every limit halved: evaluated in shadow on its own counters beside the live policy. */
function sluiceCandidate(burstLimit: number): unknown {
  const live = sluicePolicy(burstLimit) as { rules: Array<{ limits: Array<{ limit: number }> }> };
  return {
    ...live,
    rules: live.rules.map((r) => ({
      ...r,
      limits: r.limits.map((l) => ({ ...l, limit: Math.max(1, Math.floor(l.limit / 2)) })),
    })),
  };
}

const isSluice = (def: WorkerInfo) => def.id === "sluice" || def.id === "sluice-candidate";

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- set-up

function checkNode(): void {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) {
    throw new Error(
      `Node ${process.versions.node}: wrangler needs Node 22. Run through npm (npm run bench), which uses the project's node devDependency.`,
    );
  }
}

function ensureBenchDeps(): void {
  const needed = ["autocannon", "hono", "hono-rate-limiter", "@hono-rate-limiter/cloudflare"];
  const missing = needed.filter((p) => !existsSync(path.join(BENCH_DIR, "node_modules", p, "package.json")));
  if (missing.length === 0) return;
  log(`bench: installing bench/ dependencies (missing: ${missing.join(", ")}) with npm ci --prefix bench …`);
  const r = spawnSync("npm", ["ci", "--prefix", BENCH_DIR, "--no-audit", "--no-fund"], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`npm ci --prefix bench failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function wranglerEntry(): string {
  const bin = path.join(ROOT, "node_modules", ".bin", "wrangler");
  if (!existsSync(bin))
    throw new Error("node_modules/.bin/wrangler is missing: run `npm ci` in the repository root first");
  return realpathSync(bin);
}

function readVersion(pkg: string, from = ROOT): string {
  try {
    return (
      JSON.parse(readFileSync(path.join(from, "node_modules", pkg, "package.json"), "utf8")) as { version: string }
    ).version;
  } catch {
    return "?";
  }
}

function cpuPressure(): string {
  try {
    return readFileSync("/proc/pressure/cpu", "utf8").split("\n")[0] ?? "";
  } catch {
    return "n/a";
  }
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  let model = cpus[0]?.model ?? "?";
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1]!.trim();
  } catch {
    // os.cpus() it is
  }
  const git = (args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const dirty = git(["status", "--porcelain", "--", "src", "wrangler.toml", "migrations", "package.json"]);
  return {
    cpu: model,
    cores: cpus.length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    wrangler: readVersion("wrangler"),
    workerd: readVersion("workerd"),
    autocannon: readVersion("autocannon", BENCH_DIR),
    "hono-rate-limiter": readVersion("hono-rate-limiter", BENCH_DIR),
    "@hono-rate-limiter/cloudflare": readVersion("@hono-rate-limiter/cloudflare", BENCH_DIR),
    "sluice commit": `${git(["rev-parse", "--short", "HEAD"]) || "?"}${dirty ? " + uncommitted changes in src/" : ""}`,
    "load average at start": os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
    "CPU pressure at start (/proc/pressure/cpu)": cpuPressure(),
  };
}

/** What sluice is built from: a snapshot of the working tree's Worker sources, or the root itself (`--live-sources`). */
const SLUICE_SOURCES = ["src", "migrations", "wrangler.toml", "package.json", "tsconfig.json"];

/**
 * Copies sluice's sources into the temp dir (node_modules linked to the root's), so that one build is measured
 * for the whole run: wrangler dev rebuilds on every change of the files it bundles, and others may be editing src/.
 */
function snapshotSluice(tmp: string): string {
  const dir = path.join(tmp, "sluice-src");
  mkdirSync(dir, { recursive: true });
  for (const p of SLUICE_SOURCES)
    if (existsSync(path.join(ROOT, p))) cpSync(path.join(ROOT, p), path.join(dir, p), { recursive: true });
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}

/** Paths, sizes and mtimes of sluice's sources: wrangler dev rebuilds on a change, so a change during a run is worth a note. */
function sourcesFingerprint(): string {
  const parts: string[] = [];
  const walk = (p: string) => {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e));
    else parts.push(`${path.relative(ROOT, p)}:${st.size}:${st.mtimeMs}`);
  };
  for (const p of ["src", "migrations", "wrangler.toml"]) walk(path.join(ROOT, p));
  return parts.join("\n");
}

/** npm rewrites node_modules/.package-lock.json on every install: wrangler dev rebuilds a Worker whose bundled dependencies change. */
function dependenciesFingerprint(): string {
  return [
    path.join(ROOT, "node_modules", ".package-lock.json"),
    path.join(BENCH_DIR, "node_modules", ".package-lock.json"),
  ]
    .map((f) => {
      try {
        const st = statSync(f);
        return `${f}:${st.size}:${st.mtimeMs}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join("\n");
}

// ---------------------------------------------------------------- Workers

interface Running {
  def: WorkerDef;
  /** Process group of its wrangler dev (wrangler, esbuild, workerd). */
  pgid: number;
  baseUrl: string;
  logFile: string;
  hasExited(): boolean;
}

async function startWorker(
  def: WorkerDef,
  opts: Options,
  tmp: string,
  originPort: number,
  wrangler: string,
  adminToken: string,
  sluiceDir: string,
): Promise<Running> {
  const [port, inspector] = await freePorts(2);
  const persist = path.join(tmp, `${def.id}-state`);
  mkdirSync(persist, { recursive: true });
  const logFile = path.join(tmp, `${def.id}.log`);
  const vars = [`ORIGIN:http://127.0.0.1:${originPort}`];
  // OBJECT_COUNTS: the admin API serves the objects' call counts (bench/lib/object-counts.ts).
  if (isSluice(def)) vars.push(`ADMIN_TOKEN:${adminToken}`, "OBJECT_COUNTS:true", ...opts.sluiceVars);
  const args = [
    wrangler,
    "dev",
    "--config",
    def.config,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspector),
    "--persist-to",
    persist,
    "--log-level",
    opts.logLevel,
    "--show-interactive-dev-session=false",
    // A developer's .dev.vars must not change what is measured.
    "--env-file",
    path.join(ROOT, "test", "support", "no-dev-vars.env"),
    ...vars.flatMap((v) => ["--var", v]),
  ];
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" };
  const started = startGroup(def.id, process.execPath, args, {
    cwd: isSluice(def) ? sluiceDir : ROOT,
    env,
    logFile,
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (started.hasExited())
      throw new Error(`${def.id}: wrangler dev exited (${await started.exited}) before it answered:\n${tail(logFile)}`);
    if (Date.now() > deadline)
      throw new Error(`${def.id}: wrangler dev did not answer within 120 s:\n${tail(logFile)}`);
    try {
      await request(baseUrl, "/__bench_ready", { timeoutMs: 5000 });
      break;
    } catch {
      await sleep(250);
    }
  }
  return { def, pgid: started.pid, baseUrl, logFile, hasExited: started.hasExited };
}

async function setUpWorker(w: Running, opts: Options, adminToken: string): Promise<void> {
  if (isSluice(w.def)) {
    const documents: Array<[string, unknown]> = [["/__ratelimit/policy", sluicePolicy(opts.burstLimit)]];
    if (w.def.id === "sluice-candidate")
      documents.push(["/__ratelimit/policy/candidate", sluiceCandidate(opts.burstLimit)]);
    for (const [where, document] of documents) {
      const r = await request(w.baseUrl, where, {
        method: "PUT",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify(document),
      });
      if (r.status !== 200) throw new Error(`${w.def.id}: PUT ${where} answered ${r.status}: ${r.body}`);
    }
  }
  // Every Worker must reach the origin, and a limiter must count.
  const r = await request(w.baseUrl, "/admitted", { headers: { "x-bench-key": "sanity" } });
  if (r.status !== 200 || !r.body.includes("sluice-bench"))
    throw new Error(
      `${w.def.id}: GET /admitted answered ${r.status} ${r.body.slice(0, 200)} (expected the origin's 200):\n${tail(w.logFile)}`,
    );
  if (w.def.headers && !("ratelimit-limit" in r.headers || "ratelimit" in r.headers)) {
    throw new Error(`${w.def.id}: GET /admitted carried no RateLimit headers: ${JSON.stringify(r.headers)}`);
  }
  if (isSluice(w.def) && !(await readObjectCounts(w.baseUrl, adminToken)))
    throw new Error(
      `${w.def.id}: GET /__ratelimit/object-counts did not answer 200 (OBJECT_COUNTS is set):\n${tail(w.logFile)}`,
    );
}

// ---------------------------------------------------------------- scenarios

let keyCursor = Math.floor(Math.random() * 1_000_000);

function manyKeys(keys: number): () => string {
  return () => `k${keyCursor++ % keys}`;
}

/** Keys z0..z9999 drawn with P(rank k) proportional to 1 / (k + 1)^1.1: a few hot keys and a long tail. */
const ZIPF_KEYS = 10_000;
const ZIPF_S = 1.1;
function zipfKeys(runTag: string): () => string {
  const cumulative = new Float64Array(ZIPF_KEYS);
  let sum = 0;
  for (let k = 0; k < ZIPF_KEYS; k++) {
    sum += 1 / (k + 1) ** ZIPF_S;
    cumulative[k] = sum;
  }
  return () => {
    const x = Math.random() * sum;
    let lo = 0;
    let hi = ZIPF_KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return `z${runTag}-${lo}`;
  };
}

/** Windows of the rate limiting binding (and sluice's fixed windows) turn over on the minute: keep a burst clear of that. */
async function clearOfMinuteBoundary(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 56_000) await sleep(60_000 - intoMinute + 500);
}

/** Background work of the last requests (a give-back, a release, a lease refresh) lands within this after the load. */
const SETTLE_MS = 250;

async function measure(
  w: Running,
  scenario: Scenario,
  round: number,
  opts: Options,
  origin: Origin,
  runTag: string,
  adminToken: string,
): Promise<Measurement> {
  const at = new Date().toISOString();
  const base = { round, worker: w.def.id, scenario, at };
  if (w.hasExited()) throw new Error(`${w.def.id}: wrangler dev has exited:\n${tail(w.logFile)}`);
  // sluice's objects count what they are asked: read before and after (after the background work settles).
  const countsBefore = () => (isSluice(w.def) ? readObjectCounts(w.baseUrl, adminToken) : Promise.resolve(null));
  const objectsSince = async (before: ObjectCountsRead | null) => {
    if (!before) return {};
    await sleep(SETTLE_MS);
    const after = await readObjectCounts(w.baseUrl, adminToken);
    return after ? { objects: objectWork(before, after) } : {};
  };
  if (scenario === "burst") {
    await clearOfMinuteBoundary();
    const key = `burst-${runTag}-${round}`;
    const before = await countsBefore();
    const result: BurstResult = await burst(w.baseUrl, "/burst", key, opts.burstTotal);
    return { ...base, burst: result, ...(await objectsSince(before)) };
  }
  let key: string | (() => string);
  let precheck: string | undefined;
  const pathOf: Record<Exclude<Scenario, "burst">, string> = {
    admitted: "/admitted",
    hot: "/hot",
    zipf: "/admitted",
    refused: "/refused",
    multi: "/multi",
    norule: "/norule",
  };
  if (scenario === "admitted" || scenario === "multi" || scenario === "norule") key = manyKeys(opts.keys);
  else if (scenario === "hot") key = `hot-${runTag}`;
  else if (scenario === "zipf") key = zipfKeys(`${runTag}-${round}`);
  else {
    key = `refused-${runTag}-${round}`;
    if (w.def.limiter) {
      let last = 0;
      for (let i = 0; i < REFUSED_LIMIT + 5; i++)
        last = (await request(w.baseUrl, "/refused", { headers: { "x-bench-key": key } })).status;
      precheck = `last of ${REFUSED_LIMIT + 5}: ${last}`;
      if (last !== 429)
        log(`  ! ${w.def.id}: the key is not refused after ${REFUSED_LIMIT + 5} requests (last status ${last})`);
    }
  }
  const objectsBefore = await countsBefore();
  const servedBefore = await origin.served();
  const cpuBefore = groupCpuMs(w.pgid);
  const result: LoadResult = await load({
    baseUrl: w.baseUrl,
    path: pathOf[scenario],
    connections: opts.connections,
    duration: opts.duration,
    key,
  });
  const cpuAfter = groupCpuMs(w.pgid);
  const originHits = (await origin.served()) - servedBefore;
  const workerCpuMs = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : undefined;
  return {
    ...base,
    load: result,
    ...(await objectsSince(objectsBefore)),
    originHits,
    ...(workerCpuMs !== undefined ? { workerCpuMs } : {}),
    ...(precheck ? { precheck } : {}),
  };
}

function describe(m: Measurement, def: WorkerDef): string {
  if (m.burst) {
    const b = m.burst;
    const objects = m.objects ? `, ${m.objects.calls} object calls, ${m.objects.newObjects} new objects` : "";
    return `admitted ${b.admitted}, 429 ${b.refused}, other ${b.other}, errors ${b.errors}${def.headers && b.admittedWithoutHeaders ? `, admitted without RateLimit headers ${b.admittedWithoutHeaders}` : ""}${objects} (${fmtInt(b.ms)} ms)`;
  }
  const l = m.load!;
  const codes = Object.entries(l.statuses)
    .map(([c, n]) => `${c}:${n}`)
    .join(" ");
  const cpu = m.workerCpuMs !== undefined && l.responses ? `  cpu ${fmtMs(m.workerCpuMs / l.responses)} ms/resp` : "";
  const objects =
    m.objects && l.responses
      ? `  ${(m.objects.calls / l.responses).toFixed(2)} object calls/resp, ${fmtInt((m.objects.newObjects * 1000) / l.responses)} new objects/1k`
      : "";
  return `${fmtInt(l.rps)} rps  p50 ${fmtMs(l.p50)} ms  p99 ${fmtMs(l.p99)} ms${cpu}${objects}  [${codes}${l.errors + l.timeouts ? ` errors:${l.errors + l.timeouts}` : ""}]`;
}

// ---------------------------------------------------------------- main

/**
 * `--client`: sluice alone under wrangler dev with one rule per algorithm, and for each algorithm the same
 * work through pacedFetch and through plain fetch, all six at once on keys of their own (bench/lib/client.ts).
 */
async function clientMain(opts: Options): Promise<void> {
  const o = CLIENT_DEFAULTS;
  const wrangler = wranglerEntry();
  const startedAt = new Date();
  const runTag = startedAt.getTime().toString(36);
  const adminToken = randomBytes(16).toString("hex");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "sluice-bench-client-"));
  const machineInfo = machine();
  let origin: Origin | undefined;
  const cleanup = async () => {
    await killAll();
    await origin?.close().catch(() => {});
    if (opts.keepTemp) log(`bench: kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  const stop = (code: number) => () => void cleanup().then(() => process.exit(code));
  process.on("SIGINT", stop(130));
  process.on("SIGTERM", stop(143));
  process.on("exit", () => killAllSync());
  const watchdog = setTimeout(() => {
    log(`bench: the client scenario took longer than ${opts.timeout} s; stopping`);
    stop(1)();
  }, opts.timeout * 1000);
  try {
    origin = await startOrigin();
    const sluiceDir = opts.liveSources ? ROOT : snapshotSluice(tmp);
    const def = WORKERS.find((w) => w.id === "sluice")!;
    const w = await startWorker(def, opts, tmp, origin.port, wrangler, adminToken, sluiceDir);
    const put = await request(w.baseUrl, "/__ratelimit/policy", {
      method: "PUT",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(clientPolicy(o)),
    });
    if (put.status !== 200) throw new Error(`sluice: PUT /__ratelimit/policy answered ${put.status}: ${put.body}`);
    log(
      `bench: sluice up on ${w.baseUrl}; ${CLIENT_ALGORITHMS.length * 2} clients, ${o.quota * o.workMultiple} requests each …`,
    );
    const runs: ClientRun[] = await Promise.all(
      CLIENT_ALGORITHMS.flatMap((algorithm) =>
        (["pacedFetch", "plain fetch"] as const).map((mode) =>
          runClient(w.baseUrl, algorithm, mode, `client-${runTag}-${algorithm}-${mode.replace(" ", "-")}`, o),
        ),
      ),
    );
    const finishedAt = new Date();
    const meta = {
      started: startedAt.toISOString(),
      seconds: ((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0),
      cpu: machineInfo.cpu,
      cores: machineInfo.cores,
      "sluice commit": machineInfo["sluice commit"],
      wrangler: machineInfo.wrangler,
      node: machineInfo.node,
      "load average at start": machineInfo["load average at start"],
    };
    const md = clientMarkdown(runs, o, meta);
    process.stdout.write(`\n${md}`);
    if (opts.save) {
      const dir = opts.record ? RESULTS_DIR : path.join(RESULTS_DIR, "local");
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        path.join(dir, "client-latest.json"),
        `${JSON.stringify({ meta, options: o, policy: clientPolicy(o), runs }, null, 2)}\n`,
      );
      writeFileSync(path.join(dir, "client-latest.md"), md);
      log(`bench: results written to ${path.relative(ROOT, dir)}/client-latest.{json,md}`);
    }
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  checkNode();
  if (opts.client) return clientMain(opts);
  ensureBenchDeps();
  await loadAutocannon();
  const wrangler = wranglerEntry();
  const defs = opts.workers.map((id) => WORKERS.find((w) => w.id === id)!);
  const startedAt = new Date();
  const runTag = `${startedAt.getTime().toString(36)}`;
  const adminToken = randomBytes(16).toString("hex");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "sluice-bench-"));
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  const machineInfo = machine();
  const sourcesAtStart = sourcesFingerprint();
  let dependenciesAtStart = "";
  let origin: Origin | undefined;
  let finished = false;
  let status = "ok";
  let keepTempForLogs = false;

  const save = (why: string) => {
    const finishedAt = new Date();
    machineInfo["load average at end"] = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    machineInfo["CPU pressure at end (/proc/pressure/cpu)"] = cpuPressure();
    const summary = summarize(measurements, defs, opts.scenarios, opts.burstLimit);
    // A Worker that answered anything but 2xx/429, or whose requests failed: keep what its wrangler dev logged.
    const logs: Record<string, string> = {};
    for (const def of defs) {
      const odd: string[] = [];
      for (const m of measurements.filter((x) => x.worker === def.id)) {
        const statuses = m.load ? m.load.statuses : m.burst ? m.burst.otherStatuses : {};
        for (const [code, n] of Object.entries(statuses))
          if (!/^2\d\d$/.test(code) && code !== "429") odd.push(`${n}× ${code} (${m.scenario}, round ${m.round})`);
        const errors = m.load ? m.load.errors + m.load.timeouts : (m.burst?.errors ?? 0);
        if (errors) odd.push(`${errors} failed requests (${m.scenario}, round ${m.round})`);
      }
      if (odd.length === 0) continue;
      const logFile = path.join(tmp, `${def.id}.log`);
      const lines = (existsSync(logFile) ? readFileSync(logFile, "utf8") : "")
        // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the colours wrangler writes even with NO_COLOR
        .replace(/\u001b\[[0-9;]*m/g, "")
        .split("\n")
        .filter((l) => l.trim() && !/Request\.cf|ENOTFOUND|GetAddrInfoReqWrap|callbackTrampoline|onlookupall/.test(l));
      logs[def.id] = lines.slice(-60).join("\n");
      keepTempForLogs = true;
      const first = lines.find((l) => /error|exception|fail/i.test(l));
      const sample = measurements
        .filter((x) => x.worker === def.id)
        .flatMap((x) => x.load?.unexpected ?? x.burst?.unexpected ?? [])[0];
      const note =
        `${def.id} answered unexpectedly: ${odd.join("; ")}.` +
        (sample ? ` A sample: \`${sample.replace(/\s+/g, " ").slice(0, 300)}\`.` : "") +
        (first
          ? ` First error its wrangler dev logged: \`${first.slice(0, 300)}\``
          : " Its wrangler dev logged no error.") +
        " (log tail in the JSON, `logs`)";
      if (!notes.includes(note)) notes.push(note);
    }
    const meta: ReportMeta = {
      title: `sluice benchmark${opts.quick ? " (quick smoke run)" : ""}`,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      seconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      status: why,
      options: { ...opts, sluiceVars: opts.sluiceVars },
      machine: machineInfo,
      notes,
    };
    const md = markdown(summary, defs, opts.scenarios, meta);
    const json = JSON.stringify(
      {
        meta,
        workers: defs.map(({ id, label, config, limiter, multi }) => ({ id, label, config, limiter, multi })),
        summary,
        measurements,
        logs,
      },
      null,
      2,
    );
    process.stdout.write(`\n${md}\n`);
    if (!opts.save) return;
    const dir = opts.record ? RESULTS_DIR : path.join(RESULTS_DIR, "local");
    mkdirSync(dir, { recursive: true });
    const stamp = startedAt
      .toISOString()
      .replace(/[:]/g, "-")
      .replace(/\.\d+Z$/, "Z");
    const names = opts.quick ? ["quick-latest"] : ["latest", stamp];
    for (const name of names) {
      writeFileSync(path.join(dir, `${name}.json`), `${json}\n`);
      writeFileSync(path.join(dir, `${name}.md`), `${md}\n`);
    }
    const shown = path.relative(path.dirname(BENCH_DIR), dir);
    log(`bench: results written to ${names.map((n) => `${shown}/${n}.{json,md}`).join(" and ")}`);
  };

  const cleanup = async () => {
    await killAll();
    await origin?.close().catch(() => {});
    if (opts.keepTemp || keepTempForLogs)
      log(`bench: kept ${tmp} (wrangler logs and state${keepTempForLogs ? "; a Worker answered unexpectedly" : ""})`);
    else rmSync(tmp, { recursive: true, force: true });
  };

  let aborting = false;
  const abort = async (why: string, code: number) => {
    if (aborting || finished) return;
    aborting = true;
    log(`\nbench: aborting (${why}); stopping every wrangler dev and the origin …`);
    try {
      if (measurements.length > 0) save(`aborted: ${why}`);
    } catch (e) {
      log(`bench: could not save partial results: ${(e as Error).message}`);
    }
    await cleanup();
    process.exit(code);
  };
  process.on("SIGINT", () => void abort("SIGINT", 130));
  process.on("SIGTERM", () => void abort("SIGTERM", 143));
  process.on("SIGHUP", () => void abort("SIGHUP", 129));
  process.on("exit", () => killAllSync());
  const watchdog = setTimeout(
    () => void abort(`took longer than ${opts.timeout} s (BENCH_TIMEOUT)`, 1),
    opts.timeout * 1000,
  );

  try {
    log(
      `bench: ${defs.map((d) => d.id).join(", ")} × ${opts.scenarios.join(", ")}; ${opts.rounds} round(s) of ${opts.duration} s, ${opts.connections} connections, ${opts.keys} keys; temp ${tmp}`,
    );
    dependenciesAtStart = dependenciesFingerprint();
    const sluiceDir = opts.liveSources ? ROOT : snapshotSluice(tmp);
    machineInfo["sluice built from"] = opts.liveSources
      ? "the working tree, live (--live-sources)"
      : "a snapshot of the working tree taken at the start of the run";
    origin = await startOrigin();
    log(`bench: origin on 127.0.0.1:${origin.port}`);

    const running: Running[] = [];
    for (const def of defs) {
      if (running.length > 0) await sleep(opts.quick ? 2000 : 3000); // several wrangler dev at one moment can fail to come up
      const t0 = Date.now();
      let w: Running;
      try {
        w = await startWorker(def, opts, tmp, origin.port, wrangler, adminToken, sluiceDir);
      } catch (e) {
        // Another wrangler dev starting from the same folder at that moment can make one fail: try once more.
        log(`bench: ${def.id} did not come up (${(e as Error).message.split("\n")[0]}); trying once more`);
        await killGroup(lastStartedPgid());
        await sleep(3000);
        w = await startWorker(def, opts, tmp, origin.port, wrangler, adminToken, sluiceDir);
      }
      await setUpWorker(w, opts, adminToken);
      log(`bench: ${def.id} up on ${w.baseUrl} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      running.push(w);
    }

    // Warm-up: every key of the many-key paths touched once, so that rounds measure warm counters, not their creation.
    for (const w of running) {
      const t0 = Date.now();
      const warm: string[] = [];
      if (opts.scenarios.some((s) => s === "admitted" || s === "multi" || s === "norule")) warm.push("/admitted");
      if (opts.scenarios.includes("multi") && w.def.multi) warm.push("/multi");
      for (const p of warm) {
        keyCursor = 0;
        await load({
          baseUrl: w.baseUrl,
          path: p,
          connections: opts.connections,
          amount: opts.keys,
          key: manyKeys(opts.keys),
        });
      }
      if (opts.scenarios.includes("hot"))
        await load({
          baseUrl: w.baseUrl,
          path: "/hot",
          connections: opts.connections,
          amount: 100,
          key: `hot-${runTag}`,
        });
      log(
        `bench: warmed ${w.def.id} (${warm.length ? `${opts.keys} keys on ${warm.join(", ")}` : "hot key"}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }

    for (let round = 1; round <= opts.rounds; round++) {
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const scenario of opts.scenarios) {
        for (const w of order) {
          if (notApplicable(w.def, scenario)) continue;
          await sleep(opts.pauseMs);
          const m = await measure(w, scenario, round, opts, origin, runTag, adminToken);
          measurements.push(m);
          log(`[round ${round}/${opts.rounds}] ${scenario.padEnd(8)} ${w.def.id.padEnd(12)} ${describe(m, w.def)}`);
        }
      }
    }

    for (const w of running)
      if (w.hasExited()) notes.push(`${w.def.id}: wrangler dev exited during the run; see its log.`);
    if (dependenciesFingerprint() !== dependenciesAtStart) {
      notes.push(
        "node_modules (the root's or bench/'s) was reinstalled during the run: wrangler dev rebuilds and reloads a Worker whose bundled dependencies change, so some figures may include a reload.",
      );
      log(
        "bench: note: node_modules was reinstalled during the run (wrangler dev reloads on a change of a bundled dependency)",
      );
    }
    if (sourcesFingerprint() !== sourcesAtStart) {
      if (opts.liveSources) {
        notes.push(
          "sluice's sources (src/, migrations/, wrangler.toml) changed during the run: wrangler dev rebuilt sluice at some point (--live-sources), and its figures may mix two builds.",
        );
        log("bench: note: sluice's sources changed during the run, and wrangler dev rebuilt it (--live-sources)");
      } else {
        notes.push(
          "sluice's sources in the working tree changed during the run; the run measured the snapshot taken at its start.",
        );
      }
    }
    notes.push(
      "wrangler dev on loopback is not production: every Worker, its Durable Objects / KV, the origin and the load generator share this machine's cores.",
      "The Workers Rate Limiting binding is per Cloudflare location and approximate by design in production; wrangler dev simulates it exactly in one local object.",
      "hono-rate-limiter's KV store does a read then a write per request on an eventually consistent store: counts can be lost under concurrency (and, in production, across locations).",
    );
    finished = true;
    clearTimeout(watchdog);
    save(status);
  } catch (e) {
    // An abort (signal, time-out) kills the processes under the running step; it saves and exits by itself.
    if (aborting) await new Promise(() => {});
    status = `failed: ${(e as Error).message.split("\n")[0]}`;
    log(`bench: ${(e as Error).stack ?? e}`);
    finished = true;
    clearTimeout(watchdog);
    if (measurements.length > 0) save(status);
    await cleanup();
    process.exit(1);
  }
  await cleanup();
}

main().catch(async (e) => {
  log(`bench: ${(e as Error).stack ?? e}`);
  await killAll();
  process.exit(1);
});
