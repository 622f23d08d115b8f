/** SIP messages for transaction tests, written as the bytes a peer would send. */
import { parseMessage } from '../../../../src/sip/parser.js';
import type { SipRequest, SipResponse } from '../../../../src/sip/message.js';

function parse(text: string): SipRequest | SipResponse {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (!r.ok) throw new Error(`bad test message: ${r.error.reason}`);
  return r.value;
}

export interface RequestSpec {
  method: string;
  branch?: string;
  sentBy?: string;
  cseq?: number;
  cseqMethod?: string;
  toTag?: string;
  routes?: string[];
  callId?: string;
}

export function request(spec: RequestSpec): SipRequest {
  const { method, branch = 'z9hG4bK-test-1', sentBy = '192.0.2.10:5060', cseq = 1, cseqMethod = method, callId = 'call-1@test' } = spec;
  const lines = [
    `${method} sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${sentBy};branch=${branch}`,
    'Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-upstream',
    'Max-Forwards: 70',
    ...(spec.routes ?? []).map((r) => `Route: ${r}`),
    'From: Alice <sip:alice@example.com>;tag=from-1',
    `To: Bob <sip:bob@example.com>${spec.toTag === undefined ? '' : `;tag=${spec.toTag}`}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${cseqMethod}`,
    'Content-Length: 0',
    '',
    '',
  ];
  const m = parse(lines.join('\n'));
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
}

/** A response to `req` as the next hop would send it (Vias copied). */
export function responseTo(req: SipRequest, status: number, reason: string, toTag?: string): SipResponse {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const v of req.headers.getAll('via')) lines.push(`Via: ${v}`);
  lines.push(`From: ${req.headers.get('from') ?? ''}`);
  const to = req.headers.get('to') ?? '';
  lines.push(`To: ${toTag === undefined ? to : `${to};tag=${toTag}`}`);
  lines.push(`Call-ID: ${req.callId ?? ''}`, `CSeq: ${req.headers.get('cseq') ?? ''}`, 'Content-Length: 0', '', '');
  const m = parse(lines.join('\n'));
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
}
