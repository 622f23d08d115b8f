/**
 * Opens legs on ports from the allocator and gives the ports back when a leg
 * closes. Running out of ports is a refusal with a reason (503), never an SDP
 * without a candidate.
 */
import type { RTCCertificate } from 'werift';
import type { AudioCodec } from './audio-sdp.js';
import { RelayRefusal } from './relay-refusal.js';
import type { MediaLeg, SideCounters } from './media-leg.js';
import { PlainLeg } from './plain-leg.js';
import type { PortAllocator } from './port-allocator.js';
import { WebrtcLeg } from './webrtc-leg.js';

/** Pairs tried before giving up when the ones we get are taken by another program. */
const BIND_TRIES = 8;

export interface LegFactoryOptions {
  allocator: PortAllocator;
  bindAddress: string;
  advertise: string;
  certificate: RTCCertificate;
  counters: { webrtc: SideCounters; plain: SideCounters };
}

export class LegFactory {
  readonly #o: LegFactoryOptions;
  /** Legs open now (for diagnostics and tests). */
  open = 0;

  constructor(options: LegFactoryOptions) {
    this.#o = options;
  }

  get advertise(): string {
    return this.#o.advertise;
  }

  async plain(): Promise<PlainLeg> {
    for (let i = 0; i < BIND_TRIES; i++) {
      const port = this.#port();
      try {
        const leg = await PlainLeg.open(this.#o.bindAddress, port, this.#o.counters.plain);
        this.open++;
        return leg;
      } catch {
        // Taken by someone else: keep it out of circulation for now and try the next pair.
        setTimeout(() => this.#o.allocator.release(port), 60_000).unref();
      }
    }
    throw new RelayRefusal('ports', 503, 'Media Ports Unavailable');
  }

  webrtc(codecs: readonly AudioCodec[]): WebrtcLeg {
    const port = this.#port();
    this.open++;
    return new WebrtcLeg({
      bindAddress: this.#o.bindAddress,
      advertise: this.#o.advertise,
      port,
      certificate: this.#o.certificate,
      codecs,
      counters: this.#o.counters.webrtc,
    });
  }

  /** Close a leg and free its ports. */
  async release(leg: MediaLeg): Promise<void> {
    await leg.close();
    this.open--;
    this.#o.allocator.release(leg.port);
  }

  #port(): number {
    const port = this.#o.allocator.allocate();
    if (port === undefined) throw new RelayRefusal('ports', 503, 'Media Ports Exhausted');
    return port;
  }
}
