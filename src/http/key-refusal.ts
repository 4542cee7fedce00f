/**
 * A request whose counting key cannot be read unambiguously, on a rule that
 * says to refuse such requests rather than count them on a shared key. Thrown
 * where the key is read, answered by the core as a 400 or 413 naming the rule.
 * @module
 */
import { jsonError } from "./refusal";

export type KeyRefusalCode = "BODY_TOO_LARGE" | "BODY_KEY_UNREADABLE" | "AMBIGUOUS_CREDENTIALS";

export class KeyRefusal extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly code: KeyRefusalCode,
    readonly reason: string,
    /** The rule that refused; filled in by the caller that knows it. */
    readonly rule?: string,
  ) {
    super(reason);
    this.name = "KeyRefusal";
  }

  forRule(rule: string): KeyRefusal {
    return new KeyRefusal(this.status, this.code, this.reason, rule);
  }

  response(): Response {
    const error = this.status === 413 ? "Content Too Large" : "Bad Request";
    const subject = this.rule ? `Rule "${this.rule}" cannot read its key from this request` : "The key cannot be read";
    return jsonError(this.status, error, `${subject}: ${this.reason}.`, {
      code: this.code,
      ...(this.rule ? { rule: this.rule } : {}),
    });
  }
}
