import type { SipRequest, SipResponse } from '../sip/message.js';
import type { NameAddr } from '../sip/headers/name-addr.js';
import { detached } from '../sip/detached.js';
import type { Flow } from '../transport/flow.js';
import { FlowBindings, type Binding } from './flow-bindings.js';

/** RFC 3261 §10.2.1.1: with neither an expires parameter nor an Expires header, 3600 s. */
const DEFAULT_EXPIRES = 3600;

/** user@host of a Contact URI: what the registrar echoes back even when it rewrites parameters. */
function contactKey(na: NameAddr): string {
  return `${na.uri.user ?? ''}@${na.uri.host}`.toLowerCase();
}

/**
 * Our view of registrations relayed through us (the backend keeps the real
 * ones): learnt from the registrar's 2xx, per flow.
 */
export class Registrations {
  readonly bindings: FlowBindings;

  constructor(options: { maxBindingsPerFlow: number; maxFlows: number }) {
    this.bindings = new FlowBindings({ maxPerFlow: options.maxBindingsPerFlow, maxFlows: options.maxFlows });
  }

  /** A final response to a REGISTER that came in on `flow` and was relayed with our Path. */
  learn(flow: Flow, request: SipRequest, response: SipResponse): void {
    if (response.status < 200 || response.status >= 300) return;
    const to = request.to();
    if (to === undefined) return;
    // Kept for the registration's lifetime: copied out of the message text.
    const aor = detached(`${to.uri.scheme}:${to.uri.user === undefined ? '' : `${to.uri.user}@`}${to.uri.host}`.toLowerCase());
    const sent = request.contacts();
    if (sent === '*' || sent === undefined) {
      this.bindings.update(flow.id, aor, []);
      return;
    }
    const ours = new Set(sent.map(contactKey));
    const listed = response.contacts();
    const header = Number(response.headers.get('expires') ?? NaN);
    const contacts: Array<{ contact: string; expiresSeconds: number }> = [];
    if (Array.isArray(listed)) {
      for (const c of listed) {
        if (!ours.has(contactKey(c))) continue;
        const p = Number(c.params.get('expires') ?? NaN);
        const expires = Number.isFinite(p) ? p : Number.isFinite(header) ? header : DEFAULT_EXPIRES;
        contacts.push({ contact: detached(`${c.uri.scheme}:${c.uri.user ?? ''}@${c.uri.host}`), expiresSeconds: expires });
      }
    }
    this.bindings.update(flow.id, aor, contacts);
  }

  dropFlow(flowId: string): void {
    this.bindings.dropFlow(flowId);
  }

  bindingsOf(flowId: string): Binding[] {
    return this.bindings.bindingsOf(flowId);
  }
}
