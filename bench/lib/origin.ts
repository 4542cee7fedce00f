/**
 * The loopback origin every Worker forwards to: a tiny node:http server
 * answering 200 with a small JSON body. It runs in a worker thread so that
 * it does not share an event loop with the load generator, and it ends with
 * the benchmark's own process.
 */
import { Worker } from "node:worker_threads";

const SOURCE = `
const http = require("node:http");
const { parentPort } = require("node:worker_threads");
const body = JSON.stringify({ ok: true, origin: "sluice-bench" });
const length = String(Buffer.byteLength(body));
let served = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    served++;
    // x-origin-time: when the origin answered (the client scenario places each admission in its window by it).
    res.writeHead(200, { "content-type": "application/json", "content-length": length, "x-origin-time": String(Date.now()) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ port: server.address().port }));
parentPort.on("message", (m) => {
  if (m === "served") parentPort.postMessage({ served });
  if (m === "close") server.close(() => parentPort.postMessage({ closed: true }));
});
`;

export interface Origin {
  port: number;
  /** Requests the origin has answered so far. */
  served(): Promise<number>;
  close(): Promise<void>;
}

export function startOrigin(): Promise<Origin> {
  const worker = new Worker(SOURCE, { eval: true });
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    worker.once("error", onError);
    worker.once("message", (m: { port: number }) => {
      worker.off("error", onError);
      resolve({
        port: m.port,
        served: () =>
          new Promise((r) => {
            const on = (msg: { served?: number }) => {
              if (msg.served === undefined) return;
              worker.off("message", on);
              r(msg.served);
            };
            worker.on("message", on);
            worker.postMessage("served");
          }),
        close: async () => {
          worker.postMessage("close");
          await Promise.race([new Promise((r) => setTimeout(r, 1000)), new Promise((r) => worker.once("message", r))]);
          await worker.terminate();
        },
      });
    });
  });
}
