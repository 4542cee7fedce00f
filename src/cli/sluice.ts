#!/usr/bin/env node
/**
 * The `sluice` program of the package (`npx sluice policy <command>`): the same policy tool as
 * `npm run policy` in this repository, for a project that installed sluice as a library.
 * @module
 */
import { main as policy } from "./policy";

const USAGE = `Usage: sluice policy <command> [options]

  sluice policy --help            the policy commands (validate, diff, push, history, rollback, ...)
  sluice policy <command> --help  one command's options`;

async function run(argv: readonly string[]): Promise<number> {
  const [program, ...rest] = argv;
  if (program === "policy") return policy(rest);
  if (program === undefined || program === "--help" || program === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return program === undefined ? 2 : 0;
  }
  process.stderr.write(`error: unknown program "${program}"\n${USAGE}\n`);
  return 2;
}

process.exitCode = await run(process.argv.slice(2));
