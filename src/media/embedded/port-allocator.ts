/**
 * Even/odd UDP port pairs from `media.embedded.ports`: a plain leg binds RTP
 * on the even port and RTCP on the next; a browser leg gives werift the pair
 * as its ICE port range (one socket with rtcp-mux and BUNDLE). Pairs are
 * handed out oldest-freed first, so a late packet for a finished call does
 * not land in the next one at once.
 */
export class PortAllocator {
  readonly #ring: Int32Array;
  #head = 0;
  #count = 0;
  readonly #inUse = new Set<number>();
  readonly total: number;

  constructor(min: number, max: number) {
    const first = min + (min % 2);
    const pairs = Math.max(0, Math.floor((max - first + 1) / 2));
    this.total = pairs;
    this.#ring = new Int32Array(pairs);
    for (let i = 0; i < pairs; i++) this.#ring[i] = first + 2 * i;
    this.#count = pairs;
  }

  /** An even port whose pair (port, port + 1) is ours, or undefined when the range is used up. */
  allocate(): number | undefined {
    if (this.#count === 0) return undefined;
    const port = this.#ring[this.#head]!;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#count--;
    this.#inUse.add(port);
    return port;
  }

  /** Give a pair back. Unknown or already released ports are ignored. */
  release(port: number): void {
    if (!this.#inUse.delete(port)) return;
    this.#ring[(this.#head + this.#count) % this.#ring.length] = port;
    this.#count++;
  }

  get free(): number {
    return this.#count;
  }

  get used(): number {
    return this.#inUse.size;
  }
}
