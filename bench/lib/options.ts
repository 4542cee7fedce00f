/**
 * Command-line flags and BENCH_* environment variables. A flag wins over the
 * environment, which wins over the mode's default (`--quick` or full).
 */

export const SCENARIOS = ["admitted", "hot", "zipf", "refused", "multi", "norule", "burst"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Options {
  quick: boolean;
  /** Seconds of load per measurement. */
  duration: number;
  /** How many times every (scenario, Worker) pair is measured; medians are reported. */
  rounds: number;
  /** Concurrent connections of the load generator. */
  connections: number;
  /** Distinct keys on the admitted and multi-limit paths (round-robin). */
  keys: number;
  /** Burst: requests fired at once, and the limit of the key they hit. */
  burstTotal: number;
  burstLimit: number;
  /** Workers to run (ids), in this order; passthrough is always added. */
  workers: string[];
  scenarios: Scenario[];
  /** wrangler dev --log-level (its per-request log lines cost the wrangler process CPU). */
  logLevel: string;
  /** Milliseconds between two measurements. */
  pauseMs: number;
  /** Seconds after which the whole run is aborted (processes killed, partial results kept). */
  timeout: number;
  /** Extra `--var K:V` for sluice only (e.g. LIMITER_TIMEOUT_MS:200), to try a setting. */
  sluiceVars: string[];
  keepTemp: boolean;
  /** Run sluice from the working tree itself instead of a snapshot taken at the start (wrangler dev then rebuilds on every change). */
  liveSources: boolean;
  /** Write results to files (off: print only). */
  save: boolean;
  /**
   * Write to the committed bench/results/ (latest.* and a stamped copy) instead of the ignored
   * bench/results/local/: only a run meant to be committed should change tracked files.
   */
  record: boolean;
  /** The client scenario instead of the throughput run: sluice/client's pacedFetch and plain fetch against sluice (bench/lib/client.ts). */
  client: boolean;
}

export const ALL_WORKERS = ["passthrough", "sluice", "sluice-candidate", "hrl-do", "hrl-kv", "cf-ratelimit"];

const HELP = `npm run bench -- [flags]

  --quick                 smoke run: 1 round, 1.5 s per measurement, 10 connections, 200 keys
  --duration <s>          seconds of load per measurement   (BENCH_DURATION, default 5)
  --rounds <n>            rounds, interleaved, medians      (BENCH_ROUNDS, default 3)
  --connections <n>       load generator connections        (BENCH_CONNECTIONS, default 16)
  --keys <n>              keys on the many-key paths        (BENCH_KEYS, default 500)
  --workers <a,b>         subset of ${ALL_WORKERS.join(",")}   (BENCH_WORKERS)
  --scenarios <a,b>       subset of ${SCENARIOS.join(",")}   (BENCH_SCENARIOS)
  --log-level <level>     wrangler dev --log-level          (BENCH_LOG_LEVEL, default warn)
  --timeout <s>           abort the whole run after this    (BENCH_TIMEOUT, default 1200)
  --sluice-var K:V        extra --var for sluice, repeatable (BENCH_SLUICE_VARS=K:V,K:V)
  --keep-temp             keep the temp dir (wrangler logs, persisted state)
  --live-sources          run sluice from the working tree, not a snapshot taken at the start
  --no-save               print only; write no result files
  --record                write to the committed bench/results/ (latest.* and a stamped copy);
                          without it results go to the ignored bench/results/local/
  --client                the client scenario instead: five times a quota's work through sluice/client
                          and through plain fetch, against sluice only (fixed, sliding, token bucket;
                          50 per 10 s each), about 1 minute; results in client-latest.{json,md}
`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${value}"`);
  return n;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = new Map<string, string>();
  const sluiceVars: string[] = list(env.BENCH_SLUICE_VARS) ?? [];
  const booleans = new Set(["quick", "keep-temp", "no-save", "record", "live-sources", "help", "client"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new Error(`unexpected argument "${arg}"\n\n${HELP}`);
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string;
    if (booleans.has(name)) value = eq === -1 ? "true" : arg.slice(eq + 1);
    else if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[++i];
      if (next === undefined) throw new Error(`--${name} needs a value\n\n${HELP}`);
      value = next;
    }
    if (name === "sluice-var") sluiceVars.push(value);
    else flags.set(name, value);
  }
  if (flags.has("help")) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const known = new Set([
    "quick",
    "duration",
    "rounds",
    "connections",
    "keys",
    "workers",
    "scenarios",
    "log-level",
    "timeout",
    "keep-temp",
    "no-save",
    "record",
    "live-sources",
    "client",
  ]);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown flag --${name}\n\n${HELP}`);

  const quick = flags.get("quick") === "true" || env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true";
  const pick = (flag: string, envName: string) => flags.get(flag) ?? env[envName];

  const workers = list(pick("workers", "BENCH_WORKERS")) ?? ALL_WORKERS;
  for (const w of workers)
    if (!ALL_WORKERS.includes(w)) throw new Error(`unknown worker "${w}"; known: ${ALL_WORKERS.join(", ")}`);
  if (!workers.includes("passthrough")) workers.unshift("passthrough");

  const scenarios = (list(pick("scenarios", "BENCH_SCENARIOS")) ?? [...SCENARIOS]) as Scenario[];
  for (const s of scenarios)
    if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}"; known: ${SCENARIOS.join(", ")}`);

  for (const v of sluiceVars)
    if (!/^[A-Z_][A-Z0-9_]*:/.test(v)) throw new Error(`--sluice-var wants NAME:value, got "${v}"`);

  return {
    quick,
    duration: positive("duration", pick("duration", "BENCH_DURATION"), quick ? 1.5 : 5),
    rounds: Math.round(positive("rounds", pick("rounds", "BENCH_ROUNDS"), quick ? 1 : 3)),
    connections: Math.round(positive("connections", pick("connections", "BENCH_CONNECTIONS"), quick ? 10 : 16)),
    keys: Math.round(positive("keys", pick("keys", "BENCH_KEYS"), quick ? 200 : 500)),
    burstTotal: 200,
    burstLimit: 50,
    workers,
    scenarios,
    logLevel: pick("log-level", "BENCH_LOG_LEVEL") ?? "warn",
    pauseMs: quick ? 200 : 500,
    timeout: positive("timeout", pick("timeout", "BENCH_TIMEOUT"), 1200),
    sluiceVars,
    keepTemp: flags.get("keep-temp") === "true" || env.BENCH_KEEP_TEMP === "1",
    liveSources: flags.get("live-sources") === "true" || env.BENCH_LIVE_SOURCES === "1",
    save: flags.get("no-save") !== "true",
    record: flags.get("record") === "true",
    client: flags.get("client") === "true" || env.BENCH_CLIENT === "1",
  };
}
