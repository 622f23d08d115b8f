import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { decodeBencode, encodeBencode, isBencodeDict, type BencodeDict } from '../../../src/media/rtpengine/bencode.js';
import { answerDict, deleteDict, offerDict, queryDict, replyCalls, replySdp } from '../../../src/media/rtpengine/commands.js';
import { NgError, NgUnavailableError } from '../../../src/media/rtpengine/errors.js';
import { resolveFlagSets } from '../../../src/media/rtpengine/flags.js';
import { NgClient } from '../../../src/media/rtpengine/ng-client.js';
import { startRtpengine, type RunningRtpengine } from '../../helpers/rtpengine.js';
import { chromeAnswer, chromeOffer, mediaLine, plainRtpSdp, sdpLines } from './sdp-samples.js';

const flags = resolveFlagSets();
const newCallId = (): string => `${randomBytes(8).toString('hex')}@127.0.0.1`;

/** The engine's own count of offers it executed (statistics → controlstatistics). */
async function offersExecuted(client: NgClient): Promise<number> {
  const reply = await client.request('statistics');
  const stats = reply['statistics'];
  const control = isBencodeDict(stats) ? stats['controlstatistics'] : undefined;
  const total = isBencodeDict(control) ? control['totaloffercount'] : undefined;
  assert.equal(typeof total, 'number', 'statistics reply carries controlstatistics.totaloffercount');
  return total as number;
}

function assertPlainRtp(sdp: string): void {
  const lines = sdpLines(sdp);
  assert.match(mediaLine(sdp), /^m=audio [0-9]+ RTP\/AVP /);
  assert.ok(lines.includes('c=IN IP4 127.0.0.1'), sdp);
  for (const prefix of ['a=ice-ufrag', 'a=ice-pwd', 'a=candidate', 'a=fingerprint', 'a=setup', 'a=crypto']) {
    assert.equal(lines.some((l) => l.startsWith(prefix)), false, `${prefix} left in\n${sdp}`);
  }
}

function assertWebrtc(sdp: string, setup: string): void {
  const lines = sdpLines(sdp);
  assert.match(mediaLine(sdp), /^m=audio [0-9]+ UDP\/TLS\/RTP\/SAVPF /);
  for (const prefix of ['a=ice-ufrag:', 'a=ice-pwd:', 'a=fingerprint:sha-', 'a=rtcp-mux', 'a=mid:']) {
    assert.ok(lines.some((l) => l.startsWith(prefix)), `${prefix} missing in\n${sdp}`);
  }
  assert.ok(lines.some((l) => /^a=candidate:\S+ 1 (udp|UDP) [0-9]+ 127\.0\.0\.1 [0-9]+ typ host/.test(l)), `no host candidate in\n${sdp}`);
  assert.ok(lines.includes(`a=setup:${setup}`), `a=setup:${setup} missing in\n${sdp}`);
  assert.equal(lines.some((l) => l.startsWith('a=crypto')), false, `a=crypto next to DTLS in\n${sdp}`);
}

for (const transport of ['udp', 'ws'] as const) {
  describe(`NgClient against a real rtpengine over ${transport}`, () => {
    let engine: RunningRtpengine;
    let client: NgClient;

    before(async () => {
      engine = await startRtpengine({ ws: transport === 'ws' });
      client = new NgClient(transport === 'ws' ? engine.wsUrl! : engine.udpUrl, { timeoutMs: 1000, tries: 3 });
    });
    after(async () => {
      client?.close();
      await engine?.stop();
    });

    it('gets pong for ping', async () => {
      await client.ping();
    });

    it('runs a browser call: WebRTC offer → plain RTP, plain answer → WebRTC, query, delete, list', async () => {
      const callId = newCallId();
      const offer = await client.request('offer', offerDict({ callId, fromTag: 'browser-tag', sdp: chromeOffer(), flags: flags.offer('webrtcToRtp') }));
      const toBackend = replySdp(offer, client.url, 'offer');
      assertPlainRtp(toBackend);
      const port = Number(mediaLine(toBackend).split(' ')[1]);
      assert.ok(port >= engine.portMin && port <= engine.portMax, `port ${port} outside the engine's range`);

      const answer = await client.request(
        'answer',
        answerDict({ callId, fromTag: 'browser-tag', toTag: 'backend-tag', sdp: plainRtpSdp(), flags: flags.answer('rtpToWebrtc') }),
      );
      assertWebrtc(replySdp(answer, client.url, 'answer'), 'passive');

      const query = await client.request('query', queryDict({ callId }));
      const tags = query['tags'];
      assert.ok(isBencodeDict(tags), 'query reply has tags');
      assert.deepEqual(Object.keys(tags).sort(), ['backend-tag', 'browser-tag']);
      assert.ok(replyCalls(await client.request('list')).includes(callId));

      const deleted = await client.request('delete', deleteDict({ callId, fromTag: 'browser-tag' }));
      assert.equal(deleted['result'], 'ok');
      assert.equal(replyCalls(await client.request('list')).includes(callId), false);
    });

    it('runs a call toward a browser: plain offer → WebRTC, browser answer → plain RTP', async () => {
      const callId = newCallId();
      const offer = await client.request('offer', offerDict({ callId, fromTag: 'fs-tag', sdp: plainRtpSdp(52_010), flags: flags.offer('rtpToWebrtc') }));
      // In an offer rtpengine leaves the DTLS role to the browser (RFC 5763 §5: offerer says actpass).
      assertWebrtc(replySdp(offer, client.url, 'offer'), 'actpass');
      const answer = await client.request(
        'answer',
        answerDict({ callId, fromTag: 'fs-tag', toTag: 'browser-tag', sdp: chromeAnswer(), flags: flags.answer('webrtcToRtp') }),
      );
      assertPlainRtp(replySdp(answer, client.url, 'answer'));
      await client.request('delete', deleteDict({ callId, fromTag: 'fs-tag' }));
      assert.deepEqual(replyCalls(await client.request('list')), []);
    });

    it('gives NgError with the engine reason for an answer to an unknown call and a bogus command', async () => {
      await assert.rejects(
        client.request('answer', answerDict({ callId: newCallId(), fromTag: 'a', toTag: 'b', sdp: plainRtpSdp() })),
        (e: unknown) => e instanceof NgError && e.reason === 'Unknown call-id' && e.command === 'answer',
      );
      await assert.rejects(client.request('frobnicate'), (e: unknown) => e instanceof NgError && /unrecognized command/i.test(e.reason));
      // The client is still usable after errors.
      await client.ping();
    });
  });
}

describe('rtpengine cookie cache (what our same-cookie retransmission relies on)', () => {
  let engine: RunningRtpengine;
  let client: NgClient;

  before(async () => {
    engine = await startRtpengine();
    client = new NgClient(engine.udpUrl);
  });
  after(async () => {
    client?.close();
    await engine?.stop();
  });

  it('answers a resent offer with the same cookie from its cache without executing it again; a new cookie executes', async () => {
    const socket = createSocket('udp4');
    try {
      const replies: BencodeDict[] = [];
      let notify: () => void = () => undefined;
      socket.on('message', (m: Buffer) => {
        const r = decodeBencode(m.subarray(m.indexOf(0x20) + 1));
        if (r.ok && isBencodeDict(r.value)) replies.push(r.value);
        notify();
      });
      const waitFor = (n: number): Promise<void> =>
        new Promise((resolve) => {
          notify = () => replies.length >= n && resolve();
          notify();
        });
      const callId = newCallId();
      const body = encodeBencode({ ...offerDict({ callId, fromTag: 'ft', sdp: chromeOffer(), flags: flags.offer('webrtcToRtp') }), command: 'offer' });
      const message = (cookie: string): Buffer => Buffer.concat([Buffer.from(cookie + ' '), body]);
      const cookie = `test${process.pid}_${randomBytes(4).toString('hex')}_1`;
      const before = await offersExecuted(client);

      socket.send(message(cookie), engine.ngPort, '127.0.0.1');
      await waitFor(1);
      socket.send(message(cookie), engine.ngPort, '127.0.0.1');
      await waitFor(2);
      assert.equal(await offersExecuted(client), before + 1, 'the resent offer was executed again');
      assert.equal(replies[1]?.['sdp'], replies[0]?.['sdp']);

      socket.send(message(`test${process.pid}_${randomBytes(4).toString('hex')}_2`), engine.ngPort, '127.0.0.1');
      await waitFor(3);
      assert.equal(await offersExecuted(client), before + 2, 'an offer with a new cookie was not executed');
      await client.request('delete', deleteDict({ callId, fromTag: 'ft' }));
    } finally {
      socket.close();
    }
  });
});

describe('interface labels on a multi-homed rtpengine', () => {
  let engine: RunningRtpengine;
  let client: NgClient;

  before(async () => {
    engine = await startRtpengine({ interfaces: ['pub/127.0.0.1', 'priv/127.0.0.2'] });
    client = new NgClient(engine.udpUrl);
  });
  after(async () => {
    client?.close();
    await engine?.stop();
  });

  it('puts the plain-RTP side on the rtp interface and the browser side on the webrtc interface', async () => {
    const labelled = resolveFlagSets({ interfaces: { webrtc: 'pub', rtp: 'priv' } });
    const callId = newCallId();
    const offer = replySdp(await client.request('offer', offerDict({ callId, fromTag: 'b', sdp: chromeOffer(), flags: labelled.offer('webrtcToRtp') })), client.url, 'offer');
    assert.ok(sdpLines(offer).includes('c=IN IP4 127.0.0.2'), `offer toward the backend is not on priv:\n${offer}`);
    const answer = replySdp(
      await client.request('answer', answerDict({ callId, fromTag: 'b', toTag: 'f', sdp: plainRtpSdp(52_020), flags: labelled.answer('rtpToWebrtc') })),
      client.url,
      'answer',
    );
    assert.ok(sdpLines(answer).includes('c=IN IP4 127.0.0.1'), `answer toward the browser is not on pub:\n${answer}`);
    assert.equal(sdpLines(answer).some((l) => l.includes('127.0.0.2')), false, `answer toward the browser mentions priv:\n${answer}`);
    await client.request('delete', deleteDict({ callId, fromTag: 'b' }));
  });
});

describe('SDPs larger than a UDP datagram', () => {
  let engine: RunningRtpengine;
  let ws: NgClient;
  let udp: NgClient;

  before(async () => {
    engine = await startRtpengine({ ws: true });
    ws = new NgClient(engine.wsUrl!);
    udp = new NgClient(engine.udpUrl);
  });
  after(async () => {
    ws?.close();
    udp?.close();
    await engine?.stop();
  });

  it('go through the WebSocket transport; over UDP they fail at once with a hint at ws://', async () => {
    // ~95 kB: a Chrome offer with a long tail of ssrc lines.
    const padding = Array.from({ length: 1500 }, (_, i) => `a=ssrc:${1000 + i} cname:padding-to-exceed-one-udp-datagram-${i}`).join('\r\n') + '\r\n';
    const sdp = chromeOffer() + padding;
    assert.ok(Buffer.byteLength(sdp) > 65_535);
    const callId = newCallId();
    const offer = await ws.request('offer', offerDict({ callId, fromTag: 'big', sdp, flags: flags.offer('webrtcToRtp') }));
    const out = replySdp(offer, ws.url, 'offer');
    assertPlainRtp(out);
    assert.ok(Buffer.byteLength(out) > 65_535, 'the reply lost the large part of the SDP');
    await assert.rejects(
      udp.request('offer', offerDict({ callId: newCallId(), fromTag: 'big', sdp, flags: flags.offer('webrtcToRtp') })),
      (e: unknown) => e instanceof NgUnavailableError && e.message.includes('ws://'),
    );
    await ws.request('delete', deleteDict({ callId, fromTag: 'big' }));
  });
});

describe('many concurrent requests over one WebSocket', () => {
  let engine: RunningRtpengine;
  let ws: NgClient;

  before(async () => {
    engine = await startRtpengine({ ws: true, ports: 2000 });
    // One try: a reply lost to the split would fail the request instead of hiding behind a resend.
    ws = new NgClient(engine.wsUrl!, { timeoutMs: 5000, tries: 1 });
  });
  after(async () => {
    ws?.close();
    await engine?.stop();
  });

  it('each get their own reply (rtpengine 10.5 splits and interleaves pipelined WS replies)', async () => {
    const calls = Array.from({ length: 200 }, (_, i) => ({ callId: newCallId(), cname: `concurrent-call-${i}` }));
    const replies = await Promise.all(
      calls.map(({ callId, cname }) =>
        ws.request('offer', offerDict({ callId, fromTag: 'c', sdp: chromeOffer() + `a=ssrc:${4000 + calls.length} cname:${cname}\r\n`, flags: flags.offer('webrtcToRtp') })),
      ),
    );
    replies.forEach((reply, i) => {
      const sdp = replySdp(reply, ws.url, 'offer');
      assert.ok(sdpLines(sdp).some((l) => l.endsWith(` cname:${calls[i]!.cname}`)), `reply ${i} is not the one for its offer`);
    });
    await Promise.all(calls.map(({ callId }) => ws.request('delete', deleteDict({ callId, fromTag: 'c' }))));
    assert.deepEqual(replyCalls(await ws.request('list', { limit: 1000 })), []);
  });
});
