/**
 * A tenant record, as stored in KV `tenant:<sha256 hex of the API key>`.
 * @module
 */
import * as z from "zod/mini";
import { english } from "./english";

export const TenantSchema = z.strictObject({
  id: z.string().check(z.minLength(1), z.maxLength(256)),
  tier: z.optional(z.string().check(z.minLength(1))),
  sandbox: z._default(z.boolean(), false),
});
export type Tenant = z.output<typeof TenantSchema>;

/** Parses a tenant record, with English messages. */
export function parseTenant(input: unknown): ReturnType<typeof TenantSchema.safeParse> {
  return TenantSchema.safeParse(input, english());
}
