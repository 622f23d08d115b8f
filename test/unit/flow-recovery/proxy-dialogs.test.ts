import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OwnAddresses } from '../../../src/core/own-addresses.js';
import { byeRequest, type ByeSpec } from '../../../src/flow-recovery/client-gone-bye.js';
import { CLIENT_GONE_REASON, ProxyDialogs } from '../../../src/flow-recovery/proxy-dialogs.js';
import { silentLogger } from '../../../src/log/logger.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { serialize } from '../../../src/sip/serializer.js';
import { FakeFlow, listenerInfo } from '../transport/fake-flow.js';

function parse<T extends SipRequest | SipResponse>(lines: string[]): T {
  const r = parseMessage(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n')));
  if (!r.ok) throw new Error(`bad fixture: ${r.error.reason}`);
  return r.value as T;
}

// Our listeners are advertised as sbc.example.com:5060 (fake-flow.ts).
const OURS_INSIDE = '<sip:sbc.example.com:5060;transport=udp;lr>';
const OURS_WS = '<sip:TOKEN@sbc.example.com:5060;transport=ws;lr;tk=k0123456789abcdef01>';
const KAMAILIO = '<sip:10.0.0.5;lr>';

function tracker(): { dialogs: ProxyDialogs; byes: ByeSpec[]; ended: string[] } {
  const byes: ByeSpec[] = [];
  const ended: string[] = [];
  const dialogs = new ProxyDialogs({
    own: new OwnAddresses([listenerInfo(0, 'udp')]),
    bye: { send: async (spec) => void byes.push(spec) },
    teardown: { ended: (callId) => void ended.push(callId) },
    logger: silentLogger(),
  });
  return { dialogs, byes, ended };
}

const client = new FakeFlow('ws-1', 'ws', { address: '192.0.2.1', port: 40000 });
const inside = new FakeFlow('udp-0-10.0.0.5-5060', 'udp', { address: '10.0.0.5', port: 5060 });

describe('ProxyDialogs', () => {
  it('client is the caller: the BYE goes to the 2xx\'s Contact along the Record-Route above ours, reversed, with a CSeq above the client\'s', () => {
    const { dialogs, byes, ended } = tracker();
    const invite = parse<SipRequest>(['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/WS c.invalid;branch=z9hG4bK1', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>', 'Call-ID: c1', 'CSeq: 1 INVITE', 'Contact: <sip:alice@c.invalid;transport=ws>']);
    const ok = parse<SipResponse>(['SIP/2.0 200 OK', 'Via: SIP/2.0/WS c.invalid;branch=z9hG4bK1', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>;tag=bb', 'Call-ID: c1', 'CSeq: 1 INVITE',
      `Record-Route: <sip:10.0.0.6;lr>, ${KAMAILIO}, ${OURS_INSIDE}, ${OURS_WS}`, 'Contact: <sip:bob@10.0.0.9:5070>']);
    dialogs.final({ req: invite, res: ok, source: client, inside: false, clientFlow: undefined, key: 'k0123456789abcdef01' });
    assert.equal(dialogs.has('ws-1'), true);
    const reinvite = parse<SipRequest>(['INVITE sip:k0@sbc.example.com SIP/2.0', 'Via: SIP/2.0/WS c.invalid;branch=z9hG4bK2', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>;tag=bb', 'Call-ID: c1', 'CSeq: 7 INVITE']);
    const ok2 = parse<SipResponse>(['SIP/2.0 200 OK', 'Via: SIP/2.0/WS c.invalid;branch=z9hG4bK2', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>;tag=bb', 'Call-ID: c1', 'CSeq: 7 INVITE', 'Contact: <sip:bob@10.0.0.9:5072>']);
    dialogs.final({ req: reinvite, res: ok2, source: client, inside: false, clientFlow: undefined, key: undefined });

    dialogs.clientGone('ws-1');
    assert.deepEqual(byes, [{
      callId: 'c1', from: '<sip:alice@example.com>;tag=ca', to: '<sip:bob@example.com>;tag=bb', target: 'sip:bob@10.0.0.9:5072',
      routeSet: [KAMAILIO, '<sip:10.0.0.6;lr>'], cseq: 8, reason: CLIENT_GONE_REASON,
    }]);
    assert.deepEqual(ended, ['c1']);
    assert.equal(dialogs.has('ws-1'), false);
    assert.equal(dialogs.size, 0);
  });

  it('client is the callee: the BYE goes to the INVITE\'s Contact along its Record-Route; a BYE seen first leaves nothing to end', () => {
    const { dialogs, byes } = tracker();
    const invite = parse<SipRequest>(['INVITE sip:k3j4@c.invalid;transport=ws SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK9', `Record-Route: ${KAMAILIO}`, 'From: <sip:bob@example.com>;tag=bb', 'To: <sip:alice@example.com>', 'Call-ID: c2', 'CSeq: 4 INVITE', 'Contact: <sip:bob@10.0.0.9:5070>']);
    const ok = parse<SipResponse>(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK9', 'From: <sip:bob@example.com>;tag=bb', 'To: <sip:alice@example.com>;tag=ca', 'Call-ID: c2', 'CSeq: 4 INVITE', 'Contact: <sip:k3j4@c.invalid;transport=ws>']);
    dialogs.final({ req: invite, res: ok, source: inside, inside: true, clientFlow: client, key: undefined });
    dialogs.clientGone('ws-1');
    assert.equal(byes.length, 1);
    assert.deepEqual({ ...byes[0], reason: '' }, { callId: 'c2', from: '<sip:alice@example.com>;tag=ca', to: '<sip:bob@example.com>;tag=bb', target: 'sip:bob@10.0.0.9:5070', routeSet: [KAMAILIO], cseq: 1, reason: '' });

    const again = tracker();
    again.dialogs.final({ req: invite, res: ok, source: inside, inside: true, clientFlow: client, key: undefined });
    const bye = parse<SipRequest>(['BYE sip:k3j4@c.invalid;transport=ws SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKb', 'From: <sip:bob@example.com>;tag=bb', 'To: <sip:alice@example.com>;tag=ca', 'Call-ID: c2', 'CSeq: 5 BYE']);
    const byeOk = parse<SipResponse>(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKb', 'From: <sip:bob@example.com>;tag=bb', 'To: <sip:alice@example.com>;tag=ca', 'Call-ID: c2', 'CSeq: 5 BYE']);
    again.dialogs.final({ req: bye, res: byeOk, source: inside, inside: true, clientFlow: client, key: undefined });
    again.dialogs.clientGone('ws-1');
    assert.deepEqual(again.byes, []);
  });

  it('a UDP client is not tracked (its flow is soft state), nor a call that failed', () => {
    const { dialogs } = tracker();
    const udpClient = new FakeFlow('udp-0-192.0.2.7-5060', 'udp', { address: '192.0.2.7', port: 5060 });
    const invite = parse<SipRequest>(['INVITE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>', 'Call-ID: c3', 'CSeq: 1 INVITE']);
    const ok = parse<SipResponse>(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>;tag=bb', 'Call-ID: c3', 'CSeq: 1 INVITE', 'Contact: <sip:bob@10.0.0.9>']);
    dialogs.final({ req: invite, res: ok, source: udpClient, inside: false, clientFlow: undefined, key: undefined });
    const busy = parse<SipResponse>(['SIP/2.0 486 Busy Here', 'Via: SIP/2.0/WS c.invalid;branch=z9hG4bK1', 'From: <sip:alice@example.com>;tag=ca', 'To: <sip:bob@example.com>;tag=bb', 'Call-ID: c4', 'CSeq: 1 INVITE']);
    dialogs.final({ req: invite, res: busy, source: client, inside: false, clientFlow: undefined, key: undefined });
    assert.equal(dialogs.size, 0);
  });
});

describe('byeRequest', () => {
  it('writes the BYE with Reason; a strict first route becomes the Request-URI (RFC 3261 §12.2.1.1)', () => {
    const loose = serialize(byeRequest({ callId: 'c1', from: '<sip:a@x>;tag=1', to: '<sip:b@y>;tag=2', target: 'sip:b@10.0.0.9', routeSet: [KAMAILIO], cseq: 3, reason: CLIENT_GONE_REASON })).toString();
    assert.match(loose, /^BYE sip:b@10\.0\.0\.9 SIP\/2\.0\r\n/);
    assert.match(loose, /\r\nRoute: <sip:10\.0\.0\.5;lr>\r\n/);
    assert.match(loose, /\r\nCSeq: 3 BYE\r\n/);
    assert.match(loose, /\r\nReason: SIP;cause=480;text="client connection lost"\r\n/);
    const strict = serialize(byeRequest({ callId: 'c1', from: '<sip:a@x>;tag=1', to: '<sip:b@y>;tag=2', target: 'sip:b@10.0.0.9', routeSet: ['<sip:10.0.0.5>'], cseq: 3, reason: CLIENT_GONE_REASON })).toString();
    assert.match(strict, /^BYE sip:10\.0\.0\.5 SIP\/2\.0\r\n/);
    assert.match(strict, /\r\nRoute: <sip:b@10\.0\.0\.9>\r\n/);
  });
});
