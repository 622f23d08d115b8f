/**
 * Call records of the built-in services (local registrar, embedded media, no
 * backend): a call to echo hung up by the phone is bye-caller; one that
 * reaches services.echo.maxSeconds is ended by our BYE as max-duration.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { rand, request, response, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { recordFor } from './records-helpers.js';

const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40002 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');

describe('call records of the built-in services', () => {
  let dir: string;
  let file: string;
  let sbc: TestSbc;
  let phone: SipPeer;
  let to: { address: string; port: number };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-records-svc-'));
    file = join(dir, 'calls.jsonl');
    sbc = await startSbc({
      media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '25960-25989' } },
      services: { echo: { maxSeconds: 1 } },
      callRecords: { file },
    });
    phone = await SipPeer.udp();
    to = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
  });
  after(async () => {
    phone?.close();
    await sbc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(): Promise<{ callId: string; res: SipResponse }> {
    const callId = rand(8);
    phone.send(request({ method: 'INVITE', uri: 'sip:9196@127.0.0.1', sentBy: `127.0.0.1:${phone.address.port}`, from: '<sip:phone@127.0.0.1>', fromTag: 'p1', to: '<sip:9196@127.0.0.1>', callId, contact: `<sip:phone@127.0.0.1:${phone.address.port}>`, body: SDP }), to);
    const ok = await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 200);
    const res = ok.msg as SipResponse;
    const contact = /<([^>]+)>/.exec(res.headers.get('contact') ?? '')?.[1] ?? '';
    phone.send(request({ method: 'ACK', uri: contact, sentBy: `127.0.0.1:${phone.address.port}`, from: '<sip:phone@127.0.0.1>', fromTag: 'p1', to: '<sip:9196@127.0.0.1>', toTag: res.to()!.params.get('tag')!, callId }), to);
    return { callId, res };
  }

  test('echo, hung up by the phone: mode service, direction local, target echo, embedded media, bye-caller', async () => {
    const { callId, res } = await call();
    const contact = /<([^>]+)>/.exec(res.headers.get('contact') ?? '')?.[1] ?? '';
    phone.send(request({ method: 'BYE', uri: contact, sentBy: `127.0.0.1:${phone.address.port}`, from: '<sip:phone@127.0.0.1>', fromTag: 'p1', to: '<sip:9196@127.0.0.1>', toTag: res.to()!.params.get('tag')!, callId, cseq: 2 }), to);
    await phone.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'BYE');
    const r = await recordFor(file, callId);
    assert.equal(r.mode, 'service');
    assert.equal(r.direction, 'local');
    assert.deepEqual(r.target, { service: 'echo' });
    assert.equal(r.media, 'embedded');
    assert.equal(r.reason, 'bye-caller');
    assert.equal(r.status, 200);
    assert.notEqual(r.answer, null);
    assert.equal(r.from, 'sip:phone@127.0.0.1');
    assert.equal(r.toUser, '9196');
  });

  test('echo past services.echo.maxSeconds: our BYE, max-duration', async () => {
    const { callId } = await call();
    const bye = await phone.next((r) => r.msg.kind === 'request' && r.msg.method === 'BYE' && r.msg.callId === callId, 4000);
    phone.send(response(bye.msg as SipRequest, 200, 'OK'), to);
    const r = await recordFor(file, callId);
    assert.equal(r.reason, 'max-duration');
    assert.equal(r.endedBy, 'sbc');
    assert.ok(r.duration >= 0.9 && r.duration < 5, `duration ${r.duration}`);
  });
});
