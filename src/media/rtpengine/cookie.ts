import { randomBytes } from 'node:crypto';

/**
 * ng cookies. rtpengine caches replies by cookie alone, for every client, for
 * 30–60 s ([cc]; PROTOCOLS.md §1.1): two SBC nodes, or one restarted with the
 * same pid, must never reuse a cookie in that window, or one gets the other's
 * cached reply. Format `<pid>.<node>_<random>_<seq>`, after Kamailio's
 * `<pid>_<rand>_<seq>`, with a random node id because pids repeat across hosts.
 */
export class CookieSource {
  readonly #prefix: string;
  #seq = 0;

  /** @param nodeId identifies this process among SBC nodes; @default 6 random bytes, hex */
  constructor(nodeId: string = randomBytes(6).toString('hex')) {
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(nodeId)) throw new TypeError('cookie node id must be 1-64 of [A-Za-z0-9.-]');
    this.#prefix = `${process.pid}.${nodeId}`;
  }

  /** A cookie never returned before by any CookieSource, in any process. */
  next(): string {
    this.#seq = (this.#seq + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.#prefix}_${randomBytes(4).toString('hex')}_${this.#seq}`;
  }
}
