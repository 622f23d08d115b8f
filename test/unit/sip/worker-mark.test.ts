import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { newBranch } from '../../../src/sip/ids.js';
import { setWorkerMark, uriMark, workerOfBranch, workerOfParam } from '../../../src/sip/worker-mark.js';
import { ownUri } from '../../../src/core/record-route.js';
import { ownerOf } from '../../../src/transport/steering.js';
import { parseMessage } from '../../../src/sip/parser.js';
import type { ListenerInfo } from '../../../src/transport/flow.js';

const listener: ListenerInfo = { index: 0, transport: 'udp', address: '127.0.0.1', port: 5060, advertise: '127.0.0.1', boundPort: 5060, up: true };

function parse(text: string) {
  const r = parseMessage(Buffer.from(text.replaceAll('\n', '\r\n')));
  assert.ok(r.ok);
  return r.value;
}

describe('worker marks', () => {
  afterEach(() => setWorkerMark(0));

  test('outside a cluster nothing is marked', () => {
    assert.match(newBranch(), /^z9hG4bK[0-9a-f]{16}$/);
    assert.equal(uriMark(), '');
    assert.doesNotMatch(ownUri(listener, undefined), /;w=/);
  });

  test('a worker marks its branches and Record-Route/Path URIs, and the marks read back', () => {
    setWorkerMark(7);
    const branch = newBranch();
    assert.match(branch, /^z9hG4bK\.w7\.[0-9a-f]{16}$/);
    assert.equal(workerOfBranch(branch), 7);
    assert.equal(workerOfBranch(`z9hG4bK-s1a2b-${branch.slice(7)}`), 7, 'also after the loop-detection prefix');
    assert.match(ownUri(listener, 'tok', ';ob'), /^<sip:tok@127\.0\.0\.1:5060;transport=udp;lr;w=7;ob>$/);
    assert.equal(workerOfParam('7'), 7);
  });

  test('foreign or hostile values name no worker', () => {
    for (const b of [undefined, null, 'z9hG4bKabc', 'z9hG4bK.w.', 'z9hG4bK.w0.', 'z9hG4bK.w65.', 'z9hG4bK.w999.', 'z9hG4bK.wx1.', 'z9hG4bK.w12']) {
      assert.equal(workerOfBranch(b), undefined, String(b));
    }
    for (const v of [null, undefined, '', '0', '-1', '1.5', 'abc', '123']) assert.equal(workerOfParam(v), undefined, String(v));
  });

  test('ownerOf: a response by its top Via branch, a request by its top Route', () => {
    const res = parse('SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.w2.abcdef\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK.w1.x\nCall-ID: a\nCSeq: 1 INVITE\nContent-Length: 0\n\n');
    assert.equal(ownerOf(res), 2);
    const bye = parse('BYE sip:a@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK.w1.x\nRoute: <sip:127.0.0.1:5060;lr;w=3>, <sip:10.0.0.2;lr;w=1>\nCall-ID: a\nCSeq: 2 BYE\nContent-Length: 0\n\n');
    assert.equal(ownerOf(bye), 3);
    const initial = parse('INVITE sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK.w1.x\nCall-ID: a\nCSeq: 1 INVITE\nContent-Length: 0\n\n');
    assert.equal(ownerOf(initial), undefined, 'an out-of-dialog request is handled where it lands');
  });
});

describe('ownerOf without a Route (the B2BUA\'s dialogs: our Contact is the Request-URI)', () => {
  test('an in-dialog request names its worker by the Request-URI; an initial one does not', () => {
    const bye = parse('BYE sip:k1@127.0.0.1:5060;transport=udp;w=2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: a\nCSeq: 2 BYE\nContent-Length: 0\n\n');
    assert.equal(ownerOf(bye), 2);
    const invite = parse('INVITE sip:b@example.com;w=2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: a\nCSeq: 1 INVITE\nContent-Length: 0\n\n');
    assert.equal(ownerOf(invite), undefined);
  });
});
