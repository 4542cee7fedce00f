/**
 * A real origin on loopback for the runtime and end-to-end tests. It records
 * every request it sees by its `x-test-tag` header, so a test can prove the
 * origin never saw a refused request, and it can answer with a chosen status
 * or hold a streamed body open until told to finish it.
 *
 *   GET  /__origin/count?tag=T      → { count }     requests seen with x-test-tag: T
 *   POST /__origin/release?id=I     → finishes the held body of /hold?id=I
 *   ANY  /status/NNN                → answers NNN
 *   ANY  with header x-test-status: NNN → the echo, with status NNN
 *   ANY  /hold?id=I                 → sends headers and a first chunk, ends when released
 *   ANY  /sse?tokens=N              → an LLM's streamed answer (text/event-stream): a few delta events,
 *                                     one written per tick, then one with `usage.total_tokens` N and
 *                                     `[DONE]`; with `pad=B`, B bytes of deltas before the usage
 *   ANY  /usage?tokens=N            → a plain JSON answer with `usage.total_tokens` N and header
 *                                     `x-tokens-used: N`
 *   POST /__hooks/B?fail=N          → a webhook receiver: records the call in box B; the first N calls to B answer 500
 *   GET  /__hooks/B                 → [{ status, headers, body }] of every call to box B, in order
 *   ANY  anything else              → a JSON echo of the request, with the route and body fields
 *                                     a generous framework would read (framework-origin.ts)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parsedBody } from "./framework-origin";
import { routedPath } from "./routed-path";

export interface OriginServer {
  port: number;
  /** `http://127.0.0.1:<port>`: what the Worker's ORIGIN is set to. */
  url: string;
  /** How many requests with this `x-test-tag` it has seen (what `GET /__origin/count` answers). */
  count(tag: string): number;
  close(): Promise<void>;
}

export async function startOriginServer(port = 0): Promise<OriginServer> {
  const counts = new Map<string, number>();
  const held = new Map<string, ServerResponse>();
  const releasedEarly = new Set<string>();
  const hooks = new Map<string, Array<{ status: number; headers: IncomingMessage["headers"]; body: string }>>();

  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://origin.test");
    if (url.pathname === "/__origin/count") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ count: counts.get(url.searchParams.get("tag") ?? "") ?? 0 }));
      return;
    }
    if (url.pathname === "/__origin/release") {
      const id = url.searchParams.get("id") ?? "";
      const r = held.get(id);
      if (r) {
        held.delete(id);
        r.end("done\n");
      } else releasedEarly.add(id);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ released: Boolean(r) }));
      return;
    }
    const hook = /^\/__hooks\/([\w-]+)$/.exec(url.pathname);
    if (hook) {
      const box = hooks.get(hook[1]!) ?? [];
      hooks.set(hook[1]!, box);
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(box));
        return;
      }
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      const status = box.length < Number(url.searchParams.get("fail") ?? 0) ? 500 : 200;
      box.push({ status, headers: req.headers, body: Buffer.concat(parts).toString("utf8") });
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(status === 200 ? "ok" : "failing on purpose");
      return;
    }
    const arrivedAt = Date.now();
    const tag = req.headers["x-test-tag"];
    if (typeof tag === "string") counts.set(tag, (counts.get(tag) ?? 0) + 1);

    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const body = raw.toString("utf8");

    const status = /^\/status\/([1-5][0-9][0-9])$/.exec(url.pathname);
    if (status) {
      res.writeHead(Number(status[1]), { "content-type": "application/json", "x-origin": "loopback" });
      res.end(JSON.stringify({ status: Number(status[1]) }));
      return;
    }
    if (url.pathname === "/sse") {
      const tokens = Number(url.searchParams.get("tokens") ?? 0);
      const pad = Number(url.searchParams.get("pad") ?? 0);
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-origin": "loopback" });
      const events = ["Hel", "lo", ", ", "world"].map((content) => ({ choices: [{ delta: { content } }] }));
      if (pad > 0) events.push({ choices: [{ delta: { content: "x".repeat(pad) } }] });
      events.push({
        choices: [],
        usage: { prompt_tokens: 0, completion_tokens: tokens, total_tokens: tokens },
      } as never);
      for (const event of events) {
        res.write(`data: ${JSON.stringify(event)}\n\n`);
        // One event per tick: the Worker sees the body arrive in pieces, as from a model.
        await new Promise((r) => setImmediate(r));
      }
      res.end("data: [DONE]\n\n");
      return;
    }
    if (url.pathname === "/usage") {
      const tokens = Number(url.searchParams.get("tokens") ?? 0);
      res.writeHead(200, {
        "content-type": "application/json",
        "x-origin": "loopback",
        "x-tokens-used": String(tokens),
      });
      res.end(JSON.stringify({ id: "r1", usage: { total_tokens: tokens } }));
      return;
    }
    if (url.pathname === "/hold") {
      const id = url.searchParams.get("id") ?? "";
      res.writeHead(200, { "content-type": "text/plain", "x-origin": "loopback" });
      res.write("first\n");
      if (releasedEarly.delete(id)) res.end("done\n");
      else held.set(id, res);
      return;
    }
    const fields = await parsedBody(req.headers, raw);
    const wanted = Number(req.headers["x-test-status"] ?? 200);
    res.writeHead(wanted >= 200 && wanted <= 599 ? wanted : 200, {
      "content-type": "application/json",
      "x-origin": "loopback",
      "set-cookie": "origin=1",
      // When the request reached the origin (epoch ms): a held request (onLimit.delay) is not forwarded before its slot.
      "x-origin-at": String(arrivedAt),
    });
    res.end(
      JSON.stringify({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        // What a generous origin framework makes of it (see framework-origin.ts).
        routed: routedPath((req.url ?? "/").split("?")[0]!),
        fields,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    count: (tag) => counts.get(tag) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of held.values()) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
