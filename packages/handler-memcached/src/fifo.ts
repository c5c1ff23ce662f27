/** A growable ring buffer: O(1) push and shift, no per-element allocation. */
export class Fifo<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private mask: number;

  constructor(capacity = 64) {
    let c = 16;
    while (c < capacity) c <<= 1;
    this.items = new Array(c);
    this.mask = c - 1;
  }

  get length(): number {
    return this.count;
  }

  push(v: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & this.mask] = v;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The element `i` places behind the head (0 = head). */
  at(i: number): T | undefined {
    return i < this.count ? this.items[(this.head + i) & this.mask] : undefined;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    return v;
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out: T[] = new Array(this.count);
    for (let i = 0; i < out.length; i++) out[i] = this.shift()!;
    return out;
  }

  private grow(): void {
    const old = this.items;
    const n = old.length;
    const next: (T | undefined)[] = new Array(n * 2);
    for (let i = 0; i < n; i++) next[i] = old[(this.head + i) & this.mask];
    this.items = next;
    this.head = 0;
    this.mask = n * 2 - 1;
  }
}
