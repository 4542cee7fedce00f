/**
 * `policy explain` in words: the engine's own plan for one request (src/engine/explain.ts, run
 * offline on in-memory ports), said line by line. Nothing here walks the rules or scales a limit.
 * @module
 */
import type { ExplainedRule, Explanation } from "../engine/explain";
import type { KeySpec } from "../policy/compile";

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

/** Each limit's numbers as the counter store would check them (tier, sandbox multiplier applied). */
function limitsInWords({ rule, limits = [] }: ExplainedRule): string[] {
  return limits.map(({ limit: l, spec }) => {
    const n = spec.limit;
    if (l.algorithm === "concurrency") return `    ${l.name}: at most ${n} in flight at once`;
    const burst = l.burst !== undefined ? `, bursts up to ${l.burst}` : "";
    return `    ${l.name}: ${n} per ${l.windowWords} (${l.algorithm}${burst}${rule.cost !== 1 ? `, each request costs ${rule.cost}` : ""})`;
  });
}

/** The explanation, one line each. `ip`: the client address as the user gave it. */
export function explainLines(
  plan: Explanation,
  url: URL,
  headers: Headers,
  ip: string,
  sandboxMultiplier: number,
): string[] {
  if (plan.kind === "invalid-client-ip")
    return [
      `${plan.method} ${url.href}: client address ${JSON.stringify(ip)} is not one IPv4 or IPv6 address: answered 400 INVALID_CLIENT_IP before any rule`,
    ];
  const { ipKey, tier, sandbox } = plan.client;
  const out = [
    `${plan.method} ${url.href} (path matched as ${plan.path}, client ${ipKey}, tier ${tier}${sandbox ? `, sandbox host: limits x${sandboxMultiplier}` : ""})`,
  ];
  let applied = 0;
  for (const explained of plan.rules) {
    const { rule, index: i, step } = explained;
    if (step === "not-reached") return out;
    if (step === "no-match") {
      out.push(`  rules[${i}] ${rule.id}: does not match`);
      continue;
    }
    if (step === "blocks") {
      out.push(`  rules[${i}] ${rule.id}: matches: BLOCKED, answered 403; nothing below applies`);
      return out;
    }
    if (step === "bypasses") {
      out.push(
        `  rules[${i}] ${rule.id}: matches: bypass, ${applied === 0 ? "not counted, no headers" : "no rule below applies"}`,
      );
      return out;
    }
    applied++;
    out.push(
      `  rules[${i}] ${rule.id}: matches: counted by ${keyInWords(rule.key, headers, url, ipKey)}${rule.mode === "shadow" ? " (shadow: never refuses)" : ""}${rule.count === "failures" ? " (only responses >= 400 use it up)" : ""}`,
      ...limitsInWords(explained),
    );
    if (!rule.continue) {
      out.push(`  (first match decides: rules below rules[${i}] are not tried)`);
      return out;
    }
  }
  if (applied === 0) out.push("  no rule matches: not limited, no rate-limit headers");
  return out;
}
