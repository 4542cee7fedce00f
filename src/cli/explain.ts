/**
 * `policy explain`: what the policy does with one request, worked out the way the Worker does it
 * (the same compiled matchers, first match decides, `continue` stacks) without sending anything.
 * @module
 */

import { clientIpKey, parseIp } from "../net/ip";
import type { CompiledPolicy, CompiledRule, KeySpec } from "../policy/compile";
import { normalizePath } from "../policy/normalize-path";

function keyInWords(key: KeySpec, headers: Headers, url: URL, ipKey: string): string {
  switch (key.kind) {
    case "ip":
      return `the client address (${ipKey})`;
    case "tenant":
      return "the tenant of the request's API key; without a known key, the client address under defaultTier";
    case "header": {
      const v = headers.get(key.name);
      return `header ${key.name}${v !== null ? ` (here "${v}", hashed)` : ` (absent here: counted by the client address ${ipKey})`}`;
    }
    case "query": {
      const v = url.searchParams.get(key.name);
      return `query parameter ${key.name}${v !== null ? ` (here "${v}", hashed)` : ` (absent here: counted by the client address ${ipKey})`}`;
    }
    case "body":
      return `body field ${key.field} (read from the request body; absent or unreadable: the client address)`;
  }
}

function limitsInWords(rule: CompiledRule, tier: string, multiplier: number): string[] {
  return rule.limits.map((l) => {
    const n = Math.max(1, Math.floor(l.limitFor(tier) * multiplier));
    if (l.algorithm === "concurrency") return `    ${l.name}: at most ${n} in flight at once`;
    const burst = l.burst !== undefined ? `, bursts up to ${l.burst}` : "";
    return `    ${l.name}: ${n} per ${l.windowWords} (${l.algorithm}${burst}${rule.cost !== 1 ? `, each request costs ${rule.cost}` : ""})`;
  });
}

/** The explanation, one line each. */
export function explainRequest(
  policy: CompiledPolicy,
  method: string,
  url: URL,
  headers: Headers,
  ip: string,
  tier?: string,
): string[] {
  const host = url.hostname.toLowerCase();
  const facts = { method: method.toUpperCase(), path: normalizePath(url.pathname), host, headers, ip: parseIp(ip) };
  const ipKey = clientIpKey(ip, policy.ipv6Prefix);
  if (ipKey === undefined)
    return [
      `${facts.method} ${url.href}: client address ${JSON.stringify(ip)} is not one IPv4 or IPv6 address: answered 400 INVALID_CLIENT_IP before any rule`,
    ];
  const t = tier ?? policy.defaultTier;
  const sandboxed = policy.sandboxHosts.has(host);
  const multiplier = sandboxed ? policy.sandboxMultiplier : 1;
  const out = [
    `${facts.method} ${url.href} (path matched as ${facts.path}, client ${ipKey}, tier ${t}${sandboxed ? `, sandbox host: limits x${multiplier}` : ""})`,
  ];
  let applied = 0;
  for (const [i, rule] of policy.rules.entries()) {
    if (!rule.matches(facts)) {
      out.push(`  rules[${i}] ${rule.id}: does not match`);
      continue;
    }
    if (rule.action === "block") {
      out.push(`  rules[${i}] ${rule.id}: matches: BLOCKED, answered 403; nothing below applies`);
      return out;
    }
    if (rule.action === "bypass") {
      out.push(
        `  rules[${i}] ${rule.id}: matches: bypass, ${applied === 0 ? "not counted, no headers" : "no rule below applies"}`,
      );
      return out;
    }
    applied++;
    out.push(
      `  rules[${i}] ${rule.id}: matches: counted by ${keyInWords(rule.key, headers, url, ipKey)}${rule.mode === "shadow" ? " (shadow: never refuses)" : ""}${rule.count === "failures" ? " (only responses >= 400 use it up)" : ""}`,
      ...limitsInWords(rule, t, multiplier),
    );
    if (!rule.continue) {
      out.push(`  (first match decides: rules below rules[${i}] are not tried)`);
      return out;
    }
  }
  if (applied === 0) out.push("  no rule matches: not limited, no rate-limit headers");
  return out;
}
