/**
 * A tenant record, as stored in KV `tenant:<sha256 hex of the API key>`.
 * @module
 */
import { z } from "zod";

export const TenantSchema = z.strictObject({
  id: z.string().min(1).max(256),
  tier: z.string().min(1).optional(),
  sandbox: z.boolean().default(false),
});
export type Tenant = z.output<typeof TenantSchema>;
