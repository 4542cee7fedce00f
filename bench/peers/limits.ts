/**
 * The limits of the benchmark paths, for the peers that take a limit in code
 * (hono-rate-limiter). sluice gets the same numbers in its policy document
 * (bench/run.ts), the rate limiting binding in its wrangler config.
 * "Never reached" limits are far above what a run can send.
 */
export const LIMITS: Record<string, number> = {
  "/admitted": 1_000_000_000,
  "/hot": 1_000_000_000,
  "/refused": 10,
  "/burst": 50,
};
