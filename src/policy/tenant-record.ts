/**
 * A tenant record, as stored in KV `tenant:<sha256 hex of the API key>`.
 * @module
 */
import * as z from "zod/mini";
import { english } from "./english";
import { OverridesSchema } from "./overrides";
import { anchorTime, dayOfMonth, timeZoneName } from "./schema";

/**
 * The tenant's billing period (`"billing": { "day": 15, "timeZone": "America/New_York" }`): it moves the
 * calendar windows of the rules keyed by `tenant` (docs/policy.md, "Calendar windows"). Each field given
 * wins over the limit's `anchor`; `day` moves `month` windows only, `time` and `timeZone` every calendar window.
 */
export const BillingSchema = z.strictObject({
  day: z.optional(dayOfMonth),
  time: z.optional(anchorTime),
  timeZone: z.optional(timeZoneName),
});
export type Billing = z.output<typeof BillingSchema>;

export const TenantSchema = z.strictObject({
  id: z.string().check(z.minLength(1), z.maxLength(256)),
  tier: z.optional(z.string().check(z.minLength(1))),
  sandbox: z._default(z.boolean(), false),
  /** Per-limit numbers of this tenant in place of its tier's (see `overrides.ts`). */
  overrides: z.optional(OverridesSchema),
  /** The tenant's billing day and time zone: where its calendar windows start. */
  billing: z.optional(BillingSchema),
});
export type Tenant = z.output<typeof TenantSchema>;

/** Parses a tenant record, with English messages. */
export function parseTenant(input: unknown): ReturnType<typeof TenantSchema.safeParse> {
  return TenantSchema.safeParse(input, english());
}
