/** Helpers for driving the front door through `exports.default.fetch` inside workerd. */
import { env, exports } from "cloudflare:workers";
import type { PolicyInput } from "../../src/policy/schema";

let ipCounter = 0;
/** A client IP no other test in this file uses (storage is shared within a file). */
export function uniqueIp(): string {
  ipCounter++;
  const salt = Math.floor(Math.random() * 200) + 1;
  return `198.${salt}.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

let tagCounter = 0;
export function uniqueTag(prefix = "t"): string {
  tagCounter++;
  return `${prefix}-${Date.now().toString(36)}-${tagCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface CallOptions {
  ip?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  host?: string;
}

export function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.ip) headers.set("cf-connecting-ip", options.ip);
  const url = `http://${options.host ?? "api.example.com"}${path}`;
  return exports.default.fetch(
    new Request(url, { method: options.method ?? "GET", headers, body: options.body, redirect: "manual" }),
  );
}

/** Sends `n` requests one after another and returns their statuses; bodies are drained. */
export async function callMany(n: number, path: string, options: CallOptions = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call(path, options);
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

export async function usePolicy(policy: PolicyInput | string): Promise<void> {
  await env.POLICIES.put("policy", typeof policy === "string" ? policy : JSON.stringify(policy));
}

export async function useBuiltinPolicy(): Promise<void> {
  await env.POLICIES.delete("policy");
}

/** How many requests with this `x-test-tag` the loopback origin has seen. */
export async function originCount(tag: string): Promise<number> {
  const res = await fetch(`${env.ORIGIN}/__origin/count?tag=${encodeURIComponent(tag)}`);
  return ((await res.json()) as { count: number }).count;
}

export async function releaseHeld(id: string): Promise<void> {
  await (await fetch(`${env.ORIGIN}/__origin/release?id=${encodeURIComponent(id)}`, { method: "POST" })).arrayBuffer();
}

/** Removes every history entry and the version counter: "no valid policy was ever published". */
export async function forgetHistory(): Promise<void> {
  const { keys } = await env.POLICIES.list({ prefix: "policy:history:" });
  for (const k of keys) await env.POLICIES.delete(k.name);
  await env.POLICIES.delete("policy:version");
}
