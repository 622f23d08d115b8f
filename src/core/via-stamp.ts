import { formatVia, type Via } from '../sip/headers/via.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { ParamList } from '../sip/param-list.js';
import type { Flow } from '../transport/flow.js';

/**
 * received / rport on the top Via (RFC 3261 §18.2.1, RFC 3581 §4). From
 * outside, rport is forced: every client is assumed to be behind NAT.
 */
export function stampVia(req: SipRequest, flow: Flow, force: boolean): void {
  const top = req.topVia();
  if (top === undefined) return;
  const hasRport = top.params.has('rport');
  if (top.host === flow.remote.address && !hasRport && !force) return;
  const params = new ParamList(top.params);
  params.delete('received');
  if (hasRport || force) {
    params.delete('rport');
    params.set('rport', String(flow.remote.port));
  }
  params.set('received', flow.remote.address);
  const stamped: Via = { ...top, params };
  req.headers.replaceFirstValue('via', formatVia(stamped), undefined, stamped);
}

/** A relayed response gets the Vias of the request it answers (we sent that request on with ours alone). */
export function restoreVias(res: SipResponse, req: SipRequest): void {
  res.headers.remove('via');
  const lines = req.headers.getAll('via');
  for (let i = lines.length - 1; i >= 0; i--) res.headers.prepend('via', lines[i]!);
}
