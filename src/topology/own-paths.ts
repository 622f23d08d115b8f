import { ownUri } from '../core/record-route.js';
import type { OwnAddresses } from '../core/own-addresses.js';
import type { SipResponse } from '../sip/message.js';
import type { Flow } from '../transport/flow.js';

/** Our own Path entries of a registrar's answer, moved onto the client's listener (the one it can see). */
export function ownPathsFor(res: SipResponse, client: Flow, own: OwnAddresses): string[] {
  if (res.cseq()?.method !== 'REGISTER' || !res.headers.has('path')) return [];
  const out: string[] = [];
  for (const p of res.paths() ?? []) {
    if (own.isOwn(p.uri)) out.push(ownUri(client.listener, p.uri.user, p.uri.params.has('ob') ? ';ob' : ''));
  }
  return out;
}
