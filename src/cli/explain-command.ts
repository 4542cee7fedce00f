/**
 * `explain <method> <url>`: what the policy in force (or `--file`) does with one request, worked
 * out by the engine's own explain on in-memory ports: nothing is sent, nothing is counted.
 * @module
 */
import type { Command } from "commander";
import { MemoryCounterStore } from "../adapters/memory/counter-store";
import { explain } from "../engine/explain";
import { KeyRefusal } from "../http/key-refusal";
import { validatePolicyText } from "../policy/validate";
import type { Run } from "./command-run";
import { CliError, EXIT_OK } from "./errors";
import { explainLines } from "./explain";
import { io, readPolicyFile } from "./io";
import { addTargetOptions, resolveTarget, type TargetOptions } from "./target";

type ExplainOptions = TargetOptions & { header?: string[]; ip?: string; tier?: string; file?: string };

export function registerExplainCommand(program: Command, run: Run): void {
  addTargetOptions(
    program
      .command("explain")
      .description("which rules a request matches, what each counts it by, and what each limit allows")
      .argument("<method>", "GET, POST, ...")
      .argument("<url>", "the whole URL, e.g. https://api.example.com/api/v1/transfers")
      .option("--header <name:value>", "a request header (repeat for more)", (v: string, all: string[] = []) => [
        ...all,
        v,
      ])
      .option("--ip <address>", "the client address (default 203.0.113.7)")
      .option("--tier <tier>", "the tenant's tier (default: the policy's defaultTier)")
      .option("--file <policy>", "explain against this document instead of the policy in force"),
  ).action(
    run((method: string, url: string, opts: ExplainOptions, cmd: Command) => explainCommand(method, url, opts, cmd)),
  );
}

async function explainCommand(method: string, url: string, opts: ExplainOptions, cmd: Command): Promise<number> {
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new CliError(`not a URL: ${url} (give the whole URL, e.g. https://api.example.com/api/v1/transfers)`);
  }
  const text =
    opts.file !== undefined ? await readPolicyFile(opts.file) : (await resolveTarget(opts, cmd).inForce()).text;
  const result = validatePolicyText(text);
  if (!result.ok) throw new CliError("the policy is not valid (see: policy validate)");
  const headers = new Headers();
  for (const h of opts.header ?? []) {
    const at = h.indexOf(":");
    if (at <= 0) throw new CliError(`--header wants name:value, not ${h}`);
    headers.append(h.slice(0, at).trim(), h.slice(at + 1).trim());
  }
  const ip = opts.ip ?? "203.0.113.7";
  // The engine reads the client address where a request carries it.
  const request = new Headers(headers);
  request.set("cf-connecting-ip", ip);
  let plan: Awaited<ReturnType<typeof explain>>;
  try {
    // Offline: no tenant records (--tier stands for the tenant's), and counters that are all empty.
    plan = await explain(
      result.compiled,
      { method, url: parsedUrl, headers: request },
      { counters: new MemoryCounterStore(), tenants: { lookup: async () => null }, clock: { now: () => Date.now() } },
      opts.tier !== undefined ? { tier: opts.tier } : {},
    );
  } catch (e) {
    if (e instanceof KeyRefusal) throw new CliError(`the Worker would answer ${e.status} ${e.code}: ${e.reason}`);
    throw e;
  }
  for (const line of explainLines(plan, parsedUrl, headers, ip, result.compiled.sandboxMultiplier)) io.out(line);
  return EXIT_OK;
}
