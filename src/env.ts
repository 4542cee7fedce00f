/**
 * The bindings and vars the Worker reads, under the names operators set in wrangler.toml
 * (documented in the README).
 * @module
 */
import type { PolicyWriter } from "./durable/policy-writer";
import type { RateLimiter } from "./durable/rate-limiter";
import type { StatsStore } from "./durable/stats-store";

export interface Env {
  /** Counters: one SQLite-backed object per counting key. */
  LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Policy document (`policy`), history and tenant records (`tenant:<sha256>`). */
  POLICIES: KVNamespace;
  /**
   * The front door's single writer of the policy (publishes, history). Optional: without it (a
   * library user's Worker) history entries are written directly, not serialised.
   */
  POLICY_WRITER?: DurableObjectNamespace<PolicyWriter>;
  /** Base URL to forward to; empty: the request's own URL (route mode); `builtin:echo`: the demo echo. */
  ORIGIN?: string;
  /** Secret: the admin API's write token, named `admin`; with none of the three tokens set the admin API answers 404. */
  ADMIN_TOKEN?: string;
  /** Secret: a read token (GET calls, `/metrics`, the console's views), named `read`. */
  ADMIN_READ_TOKEN?: string;
  /** Secret: named tokens with roles, JSON `{"<name>": {"token": "<secret>", "role": "read" | "write"}}`. */
  ADMIN_TOKENS?: string;
  /** Default `/__ratelimit`. */
  ADMIN_PREFIX?: string;
  /** How often an isolate re-reads KV `policy`, default 30. */
  POLICY_TTL_SECONDS?: string;
  /** Base URL for requests to `sandbox.hosts`; unset with `ORIGIN` set: such requests get 503, never `ORIGIN`. */
  SANDBOX_ORIGIN?: string;
  /** `"true"`: the whole deployment gets the sandbox multiplier. */
  SANDBOX?: string;
  /**
   * Floor of a counter-store call's time budget, default 50 (0: no budget). Between floor and
   * ceiling a call is budgeted by the round trip this isolate has seen to that key's object.
   */
  LIMITER_TIMEOUT_MS?: string;
  /** Ceiling of that budget, default 2000: a new or far object's call; at or below the floor: a fixed budget. */
  LIMITER_TIMEOUT_CEILING_MS?: string;
  /** `on`: concurrent plain checks of one key's object go as one call, one write set (default off). */
  LIMITER_BATCH?: string;
  /** Fleet-wide figures (console, `/metrics`): a few SQLite-backed shards; optional, unset: none are kept. */
  STATS?: DurableObjectNamespace<StatsStore>;
  /**
   * Development only: `"1"` lets request headers (`x-sluice-dev-cf-continent`, `-country`,
   * `-longitude`, `-colo`) fake the request's `cf` place under `wrangler dev`. Never set it on a
   * deployed Worker: any client could then choose the region it is counted in.
   */
  DEV_FAKE_CF?: string;
  /** Secret: signs threshold webhooks (`x-sluice-signature`); unset, they go unsigned and a warning is logged. */
  THRESHOLD_WEBHOOK_SECRET?: string;
  /** Optional Workers Analytics Engine dataset for per-rule counts. */
  ANALYTICS?: AnalyticsEngineDataset;
  /**
   * `"true"`: the admin API serves `GET /object-counts` (calls, activations and new objects counted by
   * the objects of this isolate). For local runs (`npm run bench` sets it), where every object shares the isolate.
   */
  OBJECT_COUNTS?: string;
}

export function numberVar(value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}
