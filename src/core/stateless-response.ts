import type { SipResponse } from '../sip/message.js';
import { serialize } from '../sip/serializer.js';
import type { TransportLayer } from '../transport/index.js';
import type { OwnAddresses } from './own-addresses.js';

/**
 * A response matching no transaction (RFC 3261 §16.7 note; late 2xx
 * retransmissions): if the top Via is ours, drop it and send the rest to the
 * next Via over UDP. Anything else is dropped. `mayReach` refuses hops a
 * response cannot go to unhidden (topology hiding without a transaction).
 */
export function forwardResponseStatelessly(res: SipResponse, own: OwnAddresses, transport: TransportLayer, mayReach: (address: string, port: number) => boolean): void {
  const vias = res.vias();
  const top = vias?.[0];
  const next = vias?.[1];
  if (top === undefined || next === undefined) return;
  if (!top.params.get('branch')?.startsWith('z9hG4bK') || !own.isOwnSentBy(top.host, top.port, top.transport)) return;
  if (next.transport.toUpperCase() !== 'UDP') return;
  const address = next.params.get('received') ?? next.host;
  const rport = next.params.get('rport');
  const port = rport !== undefined && rport !== null && rport !== '' ? Number(rport) : (next.port ?? 5060);
  if (!mayReach(address, port)) return;
  res.headers.shiftValue('via');
  void transport.connect({ transport: 'udp', address, port }).then(
    (out) => out.send(serialize(res)),
    () => undefined,
  );
}
