/**
 * The policy document: `validate`, `diff`, `push` (also `--candidate`), `promote`, `candidate drop`.
 * @module
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { validatePolicyText } from "../policy/validate";
import { adminCall, answerJson, formatErrorLine } from "./admin-client";
import type { Run } from "./command-run";
import { CliError, EXIT_NO, EXIT_OK } from "./errors";
import { idList } from "./id-list";
import { io, readPolicyFile, userPath } from "./io";
import { policyDiff } from "./policy-diff";
import {
  actorOption,
  addApiOptions,
  addTargetOptions,
  apiTarget,
  type PolicyTarget,
  resolveTarget,
  type TargetOptions,
} from "./target";

type PushOptions = TargetOptions & { ifMatch?: string; actor?: string; candidate?: boolean };

export function registerDocumentCommands(program: Command, run: Run): void {
  program
    .command("validate")
    .description("check a policy document (see docs/policy.md); prints `path: message` for each error")
    .argument("<file>", "policy document (JSON)")
    .action(run((file: string) => validateCommand(file)));

  addTargetOptions(
    program
      .command("diff")
      .description(
        "show what pushing <file> would change in the policy in force; with two arguments, what changes from the first to the second (exit 0: no changes, 1: changes)",
      )
      .argument("<file>", "policy document (JSON), or a version number from the history")
      .argument("[other]", "a second file or version: diff <file> against it instead of the policy in force"),
  ).action(
    run((file: string, other: string | undefined, opts: TargetOptions, cmd: Command) =>
      diffCommand(file, other, opts, cmd),
    ),
  );

  addTargetOptions(
    program
      .command("push")
      .description("validate <file> and, when valid, store it as KV `policy` (through the admin API or wrangler)")
      .argument("<file>", "policy document (JSON)")
      .option("--if-match <etag>", "with --url: store only while the policy in force still has this ETag")
      .option(
        "--candidate",
        "store it as the candidate (KV policy:candidate), evaluated in shadow beside the policy in force",
      )
      .addOption(actorOption()),
  ).action(run((file: string, opts: PushOptions, cmd: Command) => pushCommand(file, opts, cmd)));

  addApiOptions(
    program
      .command("promote")
      .description(
        "put the candidate in force through the admin API (--url): it becomes the newest version, the document it replaces stays in history",
      ),
  ).action(run((opts: TargetOptions) => promoteCommand(opts)));

  const candidate = program.command("candidate").description("the candidate policy (KV policy:candidate)");
  addTargetOptions(candidate.command("drop").description("remove the candidate policy")).action(
    run(async (opts: TargetOptions, cmd: Command) => {
      const existed = await resolveTarget(opts, cmd).dropCandidate();
      io.out(existed ? "dropped the candidate policy" : "there was no candidate policy; nothing to drop");
      return EXIT_OK;
    }),
  );
}

async function validateCommand(file: string): Promise<number> {
  const text = await readPolicyFile(file);
  const result = validatePolicyText(text);
  if (result.ok) {
    const ids = result.policy.rules.map((r) => r.id);
    io.out(
      `${file}: valid policy, ${ids.length} rule${ids.length === 1 ? "" : "s"}${ids.length > 0 ? `: ${idList(ids)}` : ""}`,
    );
    return EXIT_OK;
  }
  for (const e of result.errors) io.out(formatErrorLine(e.path, e.message));
  io.err(`${file}: invalid policy (${result.errors.length} error${result.errors.length === 1 ? "" : "s"})`);
  return EXIT_NO;
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A version number (all digits, and no file of that name) or a file: its text and a label. */
async function documentAt(arg: string, target: () => PolicyTarget): Promise<{ text: string; label: string }> {
  if (/^\d+$/.test(arg) && !existsSync(userPath(arg))) {
    const version = Number(arg);
    return { text: await target().historyText(version), label: `version ${version}` };
  }
  return { text: await readPolicyFile(arg), label: arg };
}

async function diffCommand(
  file: string,
  other: string | undefined,
  opts: TargetOptions,
  cmd: Command,
): Promise<number> {
  // Resolved only when needed: a diff of two files needs no target.
  const target = () => resolveTarget(opts, cmd);
  const after = await documentAt(other ?? file, target);
  let parsed: unknown;
  try {
    parsed = JSON.parse(after.text);
  } catch (e) {
    throw new CliError(`${after.label} is not JSON: ${(e as Error).message}`);
  }
  if (!validatePolicyText(after.text).ok)
    io.err(`note: ${after.label} is not a valid policy (see: policy validate); push would refuse it`);
  const before = other === undefined ? await target().inForce() : await documentAt(file, target);
  const diff = policyDiff(parseOr(before.text), parsed, before.label, after.label);
  if (diff === "") {
    io.out(
      other === undefined
        ? `no changes: ${after.label} is the policy ${before.label}`
        : `no changes: ${before.label} and ${after.label} are the same policy`,
    );
    return EXIT_OK;
  }
  process.stdout.write(diff);
  return EXIT_NO;
}

async function pushCommand(file: string, opts: PushOptions, cmd: Command): Promise<number> {
  const target = resolveTarget(opts, cmd);
  if (opts.ifMatch !== undefined && !target.checksIfMatch)
    throw new CliError("--if-match needs --url: only the admin API checks it");
  if (opts.candidate && opts.ifMatch !== undefined) throw new CliError("--if-match does not apply to --candidate");
  const text = await readPolicyFile(file);
  const result = validatePolicyText(text);
  if (!result.ok) {
    for (const e of result.errors) io.err(formatErrorLine(e.path, e.message));
    io.err(
      `${file}: invalid policy (${result.errors.length} error${result.errors.length === 1 ? "" : "s"}); nothing was pushed`,
    );
    return EXIT_NO;
  }
  const rules = idList(result.policy.rules.map((r) => r.id)) || "no rules";
  if (opts.candidate) return target.pushCandidate(file, text, rules);
  return target.push(file, text, rules, {
    ...(opts.ifMatch !== undefined ? { ifMatch: opts.ifMatch } : {}),
    ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
  });
}

async function promoteCommand(opts: TargetOptions): Promise<number> {
  const api = apiTarget(opts);
  const answer = answerJson<{ version?: number; etag?: string }>(await adminCall(api, "POST", "/policy/promote"));
  io.out(`promoted the candidate at ${api.url}: version ${answer.version ?? "?"}, ETag ${answer.etag ?? "?"}`);
  return EXIT_OK;
}
