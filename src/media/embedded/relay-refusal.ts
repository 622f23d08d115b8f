import { MediaUnavailable } from '../media-control.js';

/** Why the embedded relay refused a call, as counted in sbc_media_embedded_failures_total. */
export type RefusalReason = 'sessions-limit' | 'ports' | 'no-common-codec' | 'bad-sdp' | 'negotiation';

/** The relay could not take an SDP: the request is answered with `status`, and `reason` is counted. */
export class RelayRefusal extends MediaUnavailable {
  readonly reason: RefusalReason;

  constructor(reason: RefusalReason, status: number, message: string, options?: { cause?: unknown }) {
    super(message, status, options);
    this.name = 'RelayRefusal';
    this.reason = reason;
  }
}
