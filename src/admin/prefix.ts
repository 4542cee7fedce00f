/**
 * Where the admin API lives when `ADMIN_PREFIX` is not set. Workers-free, so
 * the Worker and the CLI spell it the same way.
 * @module
 */
export const DEFAULT_ADMIN_PREFIX = "/__ratelimit";
