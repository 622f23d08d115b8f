/**
 * A binary min-heap of numbers. The expiry index keeps bucket ids in it so
 * the earliest bucket is found in O(log n) without sorting on every write.
 */
export class NumberMinHeap {
  #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number | undefined {
    return this.#items[0];
  }

  push(value: number): void {
    const items = this.#items;
    items.push(value);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (p <= value) break;
      items[i] = p;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && items[right]! < items[left]! ? right : left;
      if (items[child]! >= last) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Replace the contents in O(n) (used to drop stale entries in bulk). */
  rebuild(values: Iterable<number>): void {
    this.#items = [];
    for (const v of [...values].sort((a, b) => a - b)) this.#items.push(v);
  }

  clear(): void {
    this.#items = [];
  }
}
