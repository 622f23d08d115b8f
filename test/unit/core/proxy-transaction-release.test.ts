/**
 * A proxy context whose final response went upstream keeps relaying 2xx
 * retransmissions (RFC 6026) for as long as its client transaction is in
 * Accepted, but no longer holds the whole request: it is cut down in place
 * to what answering and relaying need.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../../../src/log/logger.js';
import { ProxyTransaction, type BranchTarget } from '../../../src/core/proxy-transaction.js';
import { restoreVias } from '../../../src/core/via-stamp.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { TransactionLayer } from '../../../src/transaction/index.js';
import { RecordingFlow } from '../transaction/helpers/recording-flow.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function parse(text: string): SipRequest | SipResponse {
  const r = parseMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (!r.ok) throw new Error(r.error.reason);
  return r.value;
}

const INVITE = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-up-1
Max-Forwards: 70
Record-Route: <sip:192.0.2.10;lr>
From: Alice <sip:alice@example.com>;tag=from-1
To: Bob <sip:bob@example.com>
Call-ID: call-release@test
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10>
Content-Type: application/sdp
Content-Length: 10

v=0\r
s=-\r
`;

function okFrom(branch: string): SipResponse {
  const m = parse(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}
From: Alice <sip:alice@example.com>;tag=from-1
To: Bob <sip:bob@example.com>;tag=bob-1
Call-ID: call-release@test
CSeq: 1 INVITE
Contact: <sip:bob@198.51.100.7>
Content-Length: 0

`);
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
}

test('after the 2xx went upstream the proxied request keeps only Via, From, To, Call-ID and CSeq, and 2xx retransmissions are still relayed with its Vias', async () => {
  const layer = new TransactionLayer({ timers: { t1Ms: 500 }, logger: silentLogger() });
  const upstream = new RecordingFlow('udp');
  const downstream = new RecordingFlow('udp');
  try {
    const req = parse(INVITE) as SipRequest;
    const server = layer.createServerTransaction(req, upstream);
    const branch = 'z9hG4bK-own-1';
    // Made in a function of its own so that only the context can keep it.
    let targetRef: WeakRef<BranchTarget> | undefined;
    const makeTarget = (): BranchTarget => {
      const t: BranchTarget = {
        label: 'backend',
        start: async (user) => {
          const copy = req.clone();
          // Only our Via leaves, as with topology hiding; the relay puts the request's back.
          copy.headers.set('via', `SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}`);
          return layer.createClientTransaction(copy, downstream, user, { timerC: true });
        },
        onEnd: () => undefined,
      };
      targetRef = new WeakRef(t);
      return t;
    };
    const ctx = new ProxyTransaction(server, req, [makeTarget()], {
      failover: false,
      failoverTimeoutMs: 1000,
      logger: silentLogger(),
      transformResponse: async (res) => {
        restoreVias(res, req);
      },
    });
    ctx.start();
    await new Promise((r) => setImmediate(r));
    assert.equal(downstream.firstWords()[0], 'INVITE');

    assert.equal(layer.receiveResponse(okFrom(branch), downstream), true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(upstream.firstWords(), ['200'], 'the 2xx came before a 100 was due');
    assert.deepEqual([...new Set(req.headers.fields.map((f) => f.name))].sort(), ['call-id', 'cseq', 'from', 'to', 'via']);
    assert.equal(req.body.length, 0);
    assert.equal(req.callId, 'call-release@test');
    // The ended branch's target (in the pipeline: its callbacks and the whole per-request scope) is let go.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    assert.equal(targetRef?.deref(), undefined, 'the branch target is no longer held');

    // RFC 6026: the UAS retransmits its 2xx until the ACK; each goes upstream with the request's Vias.
    assert.equal(layer.receiveResponse(okFrom(branch), downstream), true);
    await new Promise((r) => setImmediate(r));
    const relayed = upstream.messages();
    assert.equal(relayed.length, 2);
    const again = relayed[1]!;
    assert.equal(again.kind === 'response' && again.status, 200);
    assert.equal(again.headers.get('via'), 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-up-1');
  } finally {
    layer.close();
  }
});
