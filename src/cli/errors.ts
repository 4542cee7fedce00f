/**
 * Exit codes of `npm run policy` (also written in its `--help`):
 *
 * - 0: done; the document is valid; no differences
 * - 1: the answer is "no": the document is invalid (nothing was pushed), `diff` found differences,
 *      or the admin API refused the change (invalid document, `If-Match` no longer matches)
 * - 2: the command could not do its job: bad usage, unreadable file, network or HTTP error,
 *      wrangler failed
 * @module
 */
export const EXIT_OK = 0;
export const EXIT_NO = 1;
export const EXIT_TROUBLE = 2;

/** An error the CLI reports as `error: <message>` (plus `details` lines) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_TROUBLE,
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}
