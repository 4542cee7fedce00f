/**
 * Virtual time for the simulation: events run in time order, and after each
 * one every promise continuation it caused runs before the clock moves on, so
 * the real async lease code runs against an injected clock.
 */
interface Event {
  at: number;
  seq: number;
  run: () => void;
}

export class Scheduler {
  now: number;
  private readonly heap: Event[] = [];
  private seq = 0;

  constructor(start: number) {
    this.now = start;
  }

  at(time: number, run: () => void): void {
    const event = { at: Math.max(time, this.now), seq: this.seq++, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** A promise settled by the scheduler at `time`. */
  sleepUntil<T>(time: number, value: () => T): Promise<T> {
    return new Promise((resolve, reject) =>
      this.at(time, () => {
        try {
          resolve(value());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  async run(): Promise<void> {
    while (this.heap.length > 0) {
      const event = this.pop();
      this.now = event.at;
      event.run();
      // Let every continuation of this event run at this instant.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private pop(): Event {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
