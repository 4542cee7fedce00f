/**
 * The real cost a response body reports (a rule's `settle` with `from: "json"`), read as the body
 * streams past without holding more than the rule allows: the last `maxBytes` of it are kept (the tail),
 * and at its end the field is looked for there. A plain JSON body is read whole when it fits; a
 * `text/event-stream` (an LLM's streamed answer) gives its usage in a late `data:` event, so the
 * latest event in the tail that carries the field is taken.
 * @module
 */
/** `text/event-stream`, whatever its parameters and case. */
function isEventStream(contentType: string | null): boolean {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase() === "text/event-stream";
}

/** The last `maxBytes` bytes of a stream, and how many went past in all. */
export class Tail {
  private chunks: Uint8Array[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Uint8Array): void {
    this.total += chunk.byteLength;
    this.chunks.push(chunk);
    this.kept += chunk.byteLength;
    while (this.kept > this.maxBytes) {
      const first = this.chunks[0]!;
      const excess = this.kept - this.maxBytes;
      if (first.byteLength <= excess) {
        this.chunks.shift();
        this.kept -= first.byteLength;
      } else {
        // A copy: a view would keep the whole chunk alive.
        this.chunks[0] = first.slice(excess);
        this.kept -= excess;
      }
    }
  }

  /** Whether the tail is the whole stream. */
  get whole(): boolean {
    return this.total === this.kept;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.kept);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/** The field at `path` of the body whose tail this is; `undefined` when it cannot be found there. */
export function usageIn(tail: Tail, contentType: string | null, path: readonly string[]): unknown {
  const text = new TextDecoder().decode(tail.bytes());
  if (isEventStream(contentType)) return lastEventField(text, tail.whole, path);
  // A JSON document cut at its front is no document: the body must fit whole.
  if (!tail.whole) return undefined;
  try {
    return fieldAt(JSON.parse(text), path);
  } catch {
    return undefined;
  }
}

/** The field of the latest `data:` event that has it (`[DONE]` and other non-JSON events skipped). */
function lastEventField(text: string, whole: boolean, path: readonly string[]): unknown {
  const lines = text.split(/\r\n|\r|\n/);
  // The tail's first line may be the end of a line cut in two.
  if (!whole) lines.shift();
  const events: string[] = [];
  let data: string[] = [];
  for (const line of lines) {
    if (line === "") {
      if (data.length > 0) events.push(data.join("\n"));
      data = [];
    } else if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  // A stream may end without the blank line after its last event.
  if (data.length > 0) events.push(data.join("\n"));
  for (let i = events.length - 1; i >= 0; i--) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(events[i]!);
    } catch {
      continue;
    }
    const found = fieldAt(parsed, path);
    if (found !== undefined && found !== null) return found;
  }
  return undefined;
}

/** The value at a dotted path of a parsed JSON value. */
export function fieldAt(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const step of path) {
    if (at === null || typeof at !== "object" || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at;
}
