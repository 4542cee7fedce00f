/**
 * What changes between two policy documents, as a unified diff an operator reads rule by rule:
 * keys in the order of docs/policy.md (a rule's `id` first, not alphabetical), and rules matched
 * by `id`, so an added rule shows as one block of `+` lines and a removed one as one block of `-`
 * lines instead of interleaving with its neighbours. A rule whose place in the order changed shows
 * as removed and added again (order decides which rule applies).
 * @module
 */
import { formatHunks, lines, type Op, operations } from "./line-diff";

const TOP_ORDER = [
  "$schema",
  "version",
  "defaultTier",
  "sandbox",
  "identity",
  "headers",
  "legacyReset",
  "response",
  "allowEmptyRules",
  "allowUnreachableRules",
  "rules",
];
const RULE_ORDER = [
  "id",
  "match",
  "action",
  "key",
  "count",
  "mode",
  "onError",
  "continue",
  "cost",
  "pageSize",
  "shards",
  "limits",
];

function ordered(value: unknown, order: readonly string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => ordered(v));
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort((x, y) => {
    const ix = order.indexOf(x);
    const iy = order.indexOf(y);
    if (ix >= 0 || iy >= 0) return (ix < 0 ? order.length : ix) - (iy < 0 ? order.length : iy);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return Object.fromEntries(keys.map((k) => [k, k === "rules" ? orderedRules(obj[k]) : ordered(obj[k])]));
}

function orderedRules(rules: unknown): unknown {
  return Array.isArray(rules) ? rules.map((r) => ordered(r, RULE_ORDER)) : ordered(rules);
}

/** The document laid out for diffing: 2-space JSON, keys in documentation order. */
export function canonicalPolicy(value: unknown): string {
  return `${JSON.stringify(ordered(value, TOP_ORDER), null, 2)}\n`;
}

interface Layout {
  lines: string[];
  /** Lines before the first rule, and from the end of the last rule on. */
  head: [number, number];
  tail: [number, number];
  /** Each rule's id and its lines [from, to). */
  rules: Array<{ id: string; from: number; to: number }>;
}

/** Lays the document out and finds each rule's lines (rules are the items of the top-level `rules`). */
function layout(value: unknown): Layout | undefined {
  if (value === null || typeof value !== "object" || !Array.isArray((value as { rules?: unknown }).rules))
    return undefined;
  const rules = (value as { rules: unknown[] }).rules;
  const all = lines(canonicalPolicy(value));
  const start = all.indexOf('  "rules": [');
  if (start < 0 || rules.length === 0) return undefined;
  const out: Layout["rules"] = [];
  let at = start + 1;
  for (const rule of rules) {
    const size = JSON.stringify(ordered(rule, RULE_ORDER), null, 2).split("\n").length;
    const id = rule !== null && typeof rule === "object" ? String((rule as { id?: unknown }).id ?? "") : "";
    out.push({ id, from: at, to: at + size });
    at += size;
  }
  return { lines: all, head: [0, start + 1], tail: [at, all.length], rules: out };
}

/** Longest common subsequence of two id lists: pairs of indexes kept in both. */
function commonIds(a: readonly string[], b: readonly string[]): Array<[number, number]> {
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const pairs: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) pairs.push([i++, j++]);
    else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) i++;
    else j++;
  }
  return pairs;
}

/** The diff from `before` to `after` (parsed JSON), or `""` when they are the same document. */
export function policyDiff(before: unknown, after: unknown, beforeLabel: string, afterLabel: string): string {
  const a = layout(before);
  const b = layout(after);
  const textA = canonicalPolicy(before);
  const textB = canonicalPolicy(after);
  if (textA === textB) return "";
  if (!a || !b) return formatHunks(operations(lines(textA), lines(textB)), beforeLabel, afterLabel);

  const ops: Op[] = [];
  const range = (l: Layout, [from, to]: [number, number]) => l.lines.slice(from, to);
  // Diffs two slices and shifts their line numbers to where the slices start.
  const diffSlices = (fromA: number, sliceA: string[], fromB: number, sliceB: string[]) => {
    for (const op of operations(sliceA, sliceB)) ops.push({ ...op, a: op.a + fromA, b: op.b + fromB });
  };
  const block = (kind: "-" | "+", l: Layout, from: number, to: number, otherAt: number) => {
    for (let k = from; k < to; k++)
      ops.push({ kind, line: l.lines[k]!, a: kind === "-" ? k : otherAt, b: kind === "+" ? k : otherAt });
  };
  // The last rule has no comma after it: compare rules without their trailing comma.
  const ruleLines = (l: Layout, r: { from: number; to: number }) =>
    l.lines.slice(r.from, r.to).map((line, k, all) => (k === all.length - 1 ? line.replace(/,$/, "") : line));

  diffSlices(0, range(a, a.head), 0, range(b, b.head));
  const pairs = commonIds(
    a.rules.map((r) => r.id),
    b.rules.map((r) => r.id),
  );
  let i = 0;
  let j = 0;
  for (const [pi, pj] of [...pairs, [a.rules.length, b.rules.length] as [number, number]]) {
    // Removed rules, then added ones, each a block of its own.
    for (; i < pi; i++) block("-", a, a.rules[i]!.from, a.rules[i]!.to, b.rules[j]?.from ?? b.tail[0]);
    for (; j < pj; j++) block("+", b, b.rules[j]!.from, b.rules[j]!.to, a.rules[i]?.from ?? a.tail[0]);
    if (pi < a.rules.length && pj < b.rules.length) {
      const ra = a.rules[pi]!;
      const rb = b.rules[pj]!;
      const la = ruleLines(a, ra);
      const lb = ruleLines(b, rb);
      for (const op of operations(la, lb)) {
        const from = op.kind === "+" ? b.lines[rb.from + op.b]! : a.lines[ra.from + op.a]!;
        ops.push({ ...op, line: from, a: op.a + ra.from, b: op.b + rb.from });
      }
      i++;
      j++;
    }
  }
  diffSlices(a.tail[0], range(a, a.tail), b.tail[0], range(b, b.tail));
  if (ops.every((op) => op.kind === " ")) return "";
  return formatHunks(ops, beforeLabel, afterLabel);
}
