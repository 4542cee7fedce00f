/**
 * "passthrough": the same Hono front door with no rate limiter at all. The
 * ceiling every other Worker is compared with. Benchmark fixture.
 */
import { Hono } from "hono";
import { type ForwardEnv, forward } from "./forward";

const app = new Hono<{ Bindings: ForwardEnv }>();

app.all("*", (c) => forward(c.req.raw, c.env));

export default app;
