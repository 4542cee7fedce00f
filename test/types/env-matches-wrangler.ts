/**
 * Type-level check, run by `npm run typecheck`: the hand-written `Env` (src/env.ts, which documents each
 * binding and is what library users import) agrees with the bindings wrangler.toml declares, as
 * `wrangler types` generates them into worker-configuration.d.ts (CI checks that file is current).
 */
import type { Env } from "../../src/env";

type Declared = Cloudflare.Env;

/** Each binding of wrangler.toml is a key of Env whose type accepts what wrangler binds. */
type Disagreements = {
  [K in keyof Declared]: K extends keyof Env ? (Declared[K] extends Env[K] ? never : K) : K;
}[keyof Declared];

export const everyBindingAgrees: [Disagreements] extends [never] ? true : Disagreements = true;
