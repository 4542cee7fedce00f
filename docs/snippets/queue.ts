import { createLimiter, type Env, fixedPolicy } from "sluice";

// The counters: bind this class as LIMITER in wrangler.toml (a new_sqlite_classes migration).
export { RateLimiter } from "sluice";

interface RenderJob {
  user: string;
  pages: number;
}

// One limiter per isolate. Without `policy` it reads KV `policy`, as the middlewares do.
const limiter = createLimiter({
  policy: fixedPolicy({
    version: 1,
    rules: [{ id: "renders", key: "ip", limits: [{ limit: 1000, window: "1h" }] }],
  }),
});

export default {
  async queue(batch: MessageBatch<RenderJob>, env: Env, ctx: ExecutionContext): Promise<void> {
    for (const message of batch.messages) {
      const { user, pages } = message.body;
      // A page is a unit of rule "renders", per user: the same exact counters as HTTP requests.
      const { success, reset } = await limiter.limit(user, { rule: "renders", cost: pages, env, ctx });
      if (!success) {
        // reset is in epoch ms: try again when the user's window has room.
        message.retry({ delaySeconds: Math.max(1, Math.ceil((reset - Date.now()) / 1000)) });
        continue;
      }
      console.log(`rendering ${pages} pages for ${user}`);
      message.ack();
    }
  },
} satisfies ExportedHandler<Env, RenderJob>;
