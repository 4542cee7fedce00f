/**
 * A unified line diff (`--- a`, `+++ b`, `@@ -l,n +l,n @@` hunks with context), enough to show
 * what a policy push would change. Longest common subsequence over lines: policy documents are
 * a few hundred lines at most.
 * @module
 */

export type Op = { kind: " " | "-" | "+"; line: string; a: number; b: number };

export function operations(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i]!, a: i++, b: j++ });
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals first, then additions, as diff -u shows a changed line.
      ops.push({ kind: "-", line: a[i]!, a: i++, b: j });
    } else {
      ops.push({ kind: "+", line: b[j]!, a: i, b: j++ });
    }
  }
  return ops;
}

export function lines(text: string): string[] {
  if (text === "") return [];
  return (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
}

/** `--- a`, `+++ b` and the hunks of an edit script (`a`/`b`: 0-based line numbers on each side). */
export function formatHunks(ops: readonly Op[], beforeLabel: string, afterLabel: string, context = 3): string {
  const changed = ops.map((op, k) => (op.kind !== " " ? k : -1)).filter((k) => k >= 0);
  const out = [`--- ${beforeLabel}`, `+++ ${afterLabel}`];
  let k = 0;
  while (k < changed.length) {
    // Grow a hunk while the next change is within 2 * context lines of the last one.
    const start = Math.max(0, changed[k]! - context);
    let last = changed[k]!;
    while (k + 1 < changed.length && changed[k + 1]! - last <= 2 * context) last = changed[++k]!;
    const end = Math.min(ops.length, last + context + 1);
    k++;
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((op) => op.kind !== "+").length;
    const bCount = hunk.filter((op) => op.kind !== "-").length;
    const aStart = aCount === 0 ? hunk[0]!.a : hunk[0]!.a + 1;
    const bStart = bCount === 0 ? hunk[0]!.b : hunk[0]!.b + 1;
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.line}`);
  }
  return `${out.join("\n")}\n`;
}
