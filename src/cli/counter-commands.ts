/**
 * Counters of the policy in force, through the admin API: `stats` (per rule, one isolate's view)
 * and `key show|reset` (one counter).
 * @module
 */
import type { Command } from "commander";
import { adminCall, answerJson } from "./admin-client";
import type { Run } from "./command-run";
import { EXIT_OK } from "./errors";
import { io } from "./io";
import { addApiOptions, apiTarget, type TargetOptions } from "./target";

interface KeyOptions extends TargetOptions {
  rule: string;
  key: string;
  tier?: string;
  sandbox?: boolean;
  json?: boolean;
}

type Counts = Record<string, number>;

export function registerStatsCommand(program: Command, run: Run): void {
  addApiOptions(
    program
      .command("stats")
      .description("admitted, refused, blocked and error counts per rule over the last 15 minutes (one isolate's view)")
      .option("--json", "print the admin API's JSON answer"),
  ).action(run((opts: TargetOptions & { json?: boolean }) => statsCommand(opts)));
}

export function registerKeyCommands(program: Command, run: Run): void {
  const key = program.command("key").description("one counter of the policy in force, through the admin API (--url)");
  for (const [name, description, fn] of [
    ["show", "show a counter: each limit with limit, remaining and reset", keyShowCommand],
    ["reset", "reset a counter (its next request starts afresh)", keyResetCommand],
  ] as const) {
    const sub = addApiOptions(
      key
        .command(name)
        .description(description)
        .requiredOption("--rule <id>", "rule id")
        .requiredOption(
          "--key <value>",
          "the value a request would give: an IP, a tenant id, a header/query/body value",
        )
        .option(
          "--tier <tier>",
          "tier to size the limits for; give a tenant's own tier (default: the policy's defaultTier)",
        )
        .option("--sandbox", "the sandbox counter (with the sandbox multiplier)"),
    );
    if (name === "show") sub.option("--json", "print the admin API's JSON answer");
    sub.action(run((opts: KeyOptions) => fn(opts)));
  }
}

async function statsCommand(opts: TargetOptions & { json?: boolean }): Promise<number> {
  const res = await adminCall(apiTarget(opts), "GET", "/stats");
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const { minutes } = answerJson<{ minutes: Array<{ minute: string; rules: Record<string, Counts> }> }>(res);
  const totals = new Map<string, Counts>();
  for (const m of minutes)
    for (const [rule, counts] of Object.entries(m.rules)) {
      const t = totals.get(rule) ?? {};
      for (const [k, v] of Object.entries(counts)) t[k] = (t[k] ?? 0) + v;
      totals.set(rule, t);
    }
  io.out(
    `last ${minutes.length} minute${minutes.length === 1 ? "" : "s"} with traffic, as seen by the isolate that answered:`,
  );
  if (totals.size === 0) io.out("  no decisions yet");
  for (const [rule, t] of totals)
    io.out(
      `  ${rule}: ${t.admitted ?? 0} admitted, ${t.refused ?? 0} refused, ${t.shadow_refused ?? 0} shadow-refused, ${t.blocked ?? 0} blocked, ${(t.error_open ?? 0) + (t.error_closed ?? 0)} errors`,
    );
  return EXIT_OK;
}

/** The admin API's `key=` (a request's value; the console names a counter by `object=` instead). */
function keyQuery(opts: KeyOptions): Record<string, string> {
  return {
    rule: opts.rule,
    key: opts.key,
    ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
    ...(opts.sandbox ? { sandbox: "true" } : {}),
  };
}

async function keyShowCommand(opts: KeyOptions): Promise<number> {
  const res = await adminCall(apiTarget(opts), "GET", "/keys", { query: keyQuery(opts) });
  if (opts.json) {
    io.out(res.text.trim());
    return EXIT_OK;
  }
  const state = answerJson<{
    rule: string;
    object: string;
    limits: Array<{ name: string; limit: number; remaining: number; reset: number; resetInSeconds: number }>;
  }>(res);
  io.out(`rule ${state.rule}, key ${opts.key} (counter object ${state.object})`);
  for (const l of state.limits) {
    io.out(
      `  ${l.name}: ${l.remaining} of ${l.limit} left, resets ${new Date(l.reset * 1000).toISOString()} (in ${l.resetInSeconds} s)`,
    );
  }
  return EXIT_OK;
}

async function keyResetCommand(opts: KeyOptions): Promise<number> {
  const res = await adminCall(apiTarget(opts), "DELETE", "/keys", { query: keyQuery(opts) });
  const answer = answerJson<{ removed?: number }>(res);
  io.out(
    `reset rule ${opts.rule} for key ${opts.key}: ${answer.removed ?? 0} counter${answer.removed === 1 ? "" : "s"} removed`,
  );
  return EXIT_OK;
}
