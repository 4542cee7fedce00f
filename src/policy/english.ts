/**
 * English messages for the policy model's zod schemas, passed to each parse
 * rather than set with `z.config()`: the package must not change the global
 * zod configuration of the Worker that imports it (`"sideEffects": false`).
 * zod/mini ships no messages of its own; the English locale is loaded once,
 * on the first parse.
 * @module
 */
import type * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

let messages: { error: z.core.$ZodErrorMap } | undefined;

/** The parse options that give English messages: `Schema.safeParse(input, english())`. */
export function english(): { error: z.core.$ZodErrorMap } {
  messages ??= { error: en().localeError };
  return messages;
}
