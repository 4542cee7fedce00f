/**
 * Compares a presented secret with the real one in time that depends only on
 * the longer of the two, never on where they first differ; a length mismatch
 * fails the same way as a wrong byte.
 */
export function constantTimeEqual(presented: string, secret: string): boolean {
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(secret);
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
