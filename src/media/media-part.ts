/** The media relay chosen by media.mode as a part of the gateway (rtpengine, the embedded relay, or none). */
import type { Part, PartContext } from '../server/part.js';
import { started } from '../server/part.js';
import type { StateStore } from '../state/index.js';
import type { TransportLayer } from '../transport/index.js';
import { defaultAdvertise } from '../transport/transport-part.js';
import { mediaFromConfig, type MediaSelection } from './media-from-config.js';

export interface MediaPartOptions extends PartContext {
  store: () => StateStore;
  transport: () => TransportLayer;
  /** A call whose media the relay freed at its longest duration (its record ends as `max-duration`). */
  onMaxDuration?: (callId: string) => void;
  /** Client flows gone for good (flow recovery: closed and not back within the grace); default: closed flows. */
  flowGone?: (listener: (flowId: string) => void) => void;
}

const MEDIA_MODE_LINES = {
  rtpengine: 'media through rtpengine (media.rtpengine.engines)',
  embedded: 'media through the embedded relay (WebRTC ⇄ RTP in-process; media.embedded)',
  passthrough: 'media passthrough: SDP is relayed unchanged (browsers can only reach browsers)',
} as const;

export class MediaPart implements Part {
  readonly name = 'media';
  readonly #o: MediaPartOptions;
  #selection: MediaSelection | undefined;

  constructor(options: MediaPartOptions) {
    this.#o = options;
  }

  get selection(): MediaSelection {
    return started(this.#selection);
  }

  /** The embedded relay when it is the active media. */
  get embedded(): MediaSelection['embedded'] {
    return this.#selection?.embedded;
  }

  async start(): Promise<void> {
    const { config, metrics, logger } = this.#o;
    const media = await mediaFromConfig(config, { store: this.#o.store(), metrics, logger: logger.child({ part: 'media' }), fallbackAdvertise: defaultAdvertise('0.0.0.0'), ...(this.#o.onMaxDuration !== undefined ? { onMaxDuration: this.#o.onMaxDuration } : {}) });
    this.#selection = media;
    const hooks = media.hooks;
    if (hooks === undefined) return;
    if (this.#o.flowGone !== undefined) this.#o.flowGone((flowId) => hooks.flowClosed(flowId));
    else this.#o.transport().flows.onClose((flow) => hooks.flowClosed(flow.id));
  }

  async stop(): Promise<void> {
    await this.#selection?.close();
  }

  /** The start-up line naming the media path. */
  logActive(): void {
    const media = this.selection;
    this.#o.logger.info({ mediaMode: this.#o.config.media.mode, media: media.active, ...(media.embedded !== undefined ? { embedded: media.embedded.snapshot() } : {}) }, MEDIA_MODE_LINES[media.active]);
  }
}
