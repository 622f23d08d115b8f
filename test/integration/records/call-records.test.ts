/**
 * Call records over real sockets: a scripted caller outside (UDP and WS), the
 * SBC with `callRecords.file`, a scripted UAS backend. Every call leaves one
 * line with what a user reads in it: who called whom, from where, to where,
 * when it was answered and ended, the final status, and why it ended.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rand, request, SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { backends, calleeHangsUp, callerHangsUp, placeCall, readRecords, recordFor, sleep, uas, type Uas } from './records-helpers.js';

for (const mode of ['proxy', 'b2bua'] as const) {
  describe(`call records, ${mode} mode`, () => {
    let dir: string;
    let file: string;
    let sbc: TestSbc;
    let backend: Uas;
    let client: SipPeer;
    let sbcUdp: { address: string; port: number };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'sbc-records-'));
      file = join(dir, 'calls.jsonl');
      backend = await uas();
      sbc = await startSbc({ mode, backends: backends(backend), timers: { t1Ms: 50 }, callRecords: { file } });
      sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
      client = await SipPeer.udp();
    });
    after(async () => {
      client.close();
      backend.peer.close();
      await sbc.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('answered, the caller hangs up: bye-caller with answer and end times, duration and both ends', async () => {
      backend.mode = 'answer';
      const call = await placeCall(client, sbcUdp, backend);
      await sleep(200);
      await callerHangsUp(client, sbcUdp, call, backend);
      const r = await recordFor(file, call.callId);
      assert.equal(r.reason, 'bye-caller');
      assert.equal(r.endedBy, 'caller');
      assert.equal(r.status, 200);
      assert.equal(r.mode, mode);
      assert.equal(r.direction, 'outbound');
      assert.equal(r.from, 'sip:alice@example.com');
      assert.match(r.to, /^sip:bob-[0-9a-f]+@example\.com$/);
      assert.equal(r.fromUser, 'alice');
      assert.deepEqual(r.source, { address: '127.0.0.1', port: client.address.port, transport: 'udp' });
      assert.deepEqual(r.target, { address: '127.0.0.1', port: backend.peer.address.port, transport: 'udp' });
      assert.equal(r.transport, 'udp');
      assert.equal(r.media, 'passthrough', 'an offer went through with media.mode passthrough');
      assert.equal(r.mediaEngine, null);
      assert.ok(r.answer !== null && Date.parse(r.start) <= Date.parse(r.answer) && Date.parse(r.answer) <= Date.parse(r.end));
      assert.ok(r.duration >= 0.15 && r.duration < 10, `duration ${r.duration}`);
      assert.equal(r.outsideCallId, call.callId);
      if (mode === 'b2bua') assert.equal(r.insideCallId, call.inviteAtBackend.msg.callId, 'the B leg’s Call-ID');
      else assert.equal(r.insideCallId, call.callId);
    });

    test('answered, the callee hangs up: bye-callee', async () => {
      backend.mode = 'answer';
      const call = await placeCall(client, sbcUdp, backend);
      await calleeHangsUp(client, sbcUdp, call, backend);
      const r = await recordFor(file, call.callId);
      assert.equal(r.reason, 'bye-callee');
      assert.equal(r.endedBy, 'callee');
      assert.equal(r.status, 200);
      assert.notEqual(r.answer, null);
    });

    test('rejected with 486: failed, status 486, never answered', async () => {
      backend.mode = 'busy';
      const callId = rand(8);
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, callId, fromTag: 'a1', contact: `<sip:alice@127.0.0.1:${client.address.port}>` }), sbcUdp);
      await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 486);
      const r = await recordFor(file, callId);
      assert.equal(r.reason, 'failed');
      assert.equal(r.endedBy, 'callee');
      assert.equal(r.status, 486);
      assert.equal(r.answer, null);
      assert.equal(r.duration, 0);
      assert.equal(r.media, 'none', 'no SDP was offered');
    });

    test('cancelled while ringing: cancel, status 487', async () => {
      backend.mode = 'ring';
      const callId = rand(8);
      const branch = `z9hG4bK${rand()}`;
      client.send(request({ method: 'INVITE', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1', contact: `<sip:alice@127.0.0.1:${client.address.port}>` }), sbcUdp);
      await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 180);
      client.send(request({ method: 'CANCEL', uri: 'sip:bob@example.com', sentBy: `127.0.0.1:${client.address.port}`, branch, callId, fromTag: 'a1' }), sbcUdp);
      await client.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status === 487);
      const r = await recordFor(file, callId);
      assert.equal(r.reason, 'cancel');
      assert.equal(r.endedBy, 'caller');
      assert.equal(r.status, 487);
      assert.equal(r.answer, null);
    });

    test('a WebSocket caller: the flow transport is ws', async () => {
      backend.mode = 'answer';
      const ws = await SipPeer.ws(`ws://${sbc.hostPort('ws')}`);
      try {
        const call = await placeCall(ws, undefined, backend);
        await callerHangsUp(ws, undefined, call, backend);
        const r = await recordFor(file, call.callId);
        assert.equal(r.transport, 'ws');
        assert.equal(r.source.transport, 'ws');
        assert.equal(r.reason, 'bye-caller');
      } finally {
        ws.close();
      }
    });

    test('one line per call: every call so far has exactly one record', () => {
      const records = readRecords(file);
      const ids = records.map((r) => r.callId);
      assert.equal(new Set(ids).size, ids.length, 'no call written twice');
      assert.equal(records.length, 5);
    });
  });
}

describe('call records: a drain ends the calls still up', () => {
  for (const mode of ['proxy', 'b2bua'] as const) {
    test(`${mode}: an answered call up at shutdown is written as drain`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sbc-records-'));
      const file = join(dir, 'calls.jsonl');
      const backend = await uas();
      const sbc = await startSbc({ mode, backends: backends(backend), timers: { t1Ms: 50 }, callRecords: { file }, shutdown: { drainSeconds: 0.3 } });
      const client = await SipPeer.udp();
      try {
        const call = await placeCall(client, { address: '127.0.0.1', port: sbc.listener('udp').boundPort }, backend);
        // The drain a user starts: SIGTERM to the CLI (with workers, the supervisor drains every worker), or in-process the Server's drain the CLI runs on it.
        await (sbc.workers > 1 ? sbc.stop() : sbc.server.drainAndStop());
        const r = await recordFor(file, call.callId);
        assert.equal(r.reason, 'drain');
        assert.equal(r.endedBy, 'sbc');
        assert.equal(r.status, 200);
        assert.notEqual(r.answer, null);
      } finally {
        client.close();
        backend.peer.close();
        await sbc.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('call records: an end reported by another part of the SBC', () => {
  test('an end signalled with a reason (client-gone) is written at once, and the BYE after it writes nothing more', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-records-'));
    const file = join(dir, 'calls.jsonl');
    const backend = await uas();
    // It calls the recorder of the gateway as its other parts do.
    const sbc = await startSbcInProcess({ backends: backends(backend), timers: { t1Ms: 50 }, callRecords: { file } });
    const client = await SipPeer.udp();
    try {
      const call = await placeCall(client, { address: '127.0.0.1', port: sbc.listener('udp').boundPort }, backend);
      // What flow recovery does when the grace ends without the client coming back.
      sbc.server.callRecords.recorder?.end(call.callId, { by: 'sbc', reason: 'client-gone' });
      const r = await recordFor(file, call.callId);
      assert.equal(r.reason, 'client-gone');
      assert.equal(r.endedBy, 'sbc');
      // A BYE after that does not write the call again.
      await callerHangsUp(client, { address: '127.0.0.1', port: sbc.listener('udp').boundPort }, call, backend);
      await sleep(100);
      assert.equal(readRecords(file).filter((x) => x.callId === call.callId).length, 1);
    } finally {
      client.close();
      backend.peer.close();
      await sbc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});


describe('call records: POST /api/reload', () => {
  test('a new file name takes the next records; an unopenable one is refused naming callRecords.file and the file in force stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-records-'));
    const first = join(dir, 'first.jsonl');
    const second = join(dir, 'second.jsonl');
    const backend = await uas();
    let next: TestSbc['config'] | undefined;
    const sbc = await startSbcInProcess({ backends: backends(backend), timers: { t1Ms: 50 }, callRecords: { file: first } }, {
      reloadConfig: async () => ({ ok: true, value: { config: next! } }),
    });
    const client = await SipPeer.udp();
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    try {
      const one = await placeCall(client, sbcUdp, backend);
      await callerHangsUp(client, sbcUdp, one, backend);
      await recordFor(first, one.callId);

      next = { ...sbc.config, callRecords: { ...sbc.config.callRecords, file: second } };
      const ok = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
      const body = (await ok.json()) as { applied: string[]; restartNeeded: string[] };
      assert.equal(ok.status, 200);
      assert.ok(body.applied.includes('callRecords'));
      assert.ok(!body.restartNeeded.includes('callRecords'), 'no restart needed');
      const two = await placeCall(client, sbcUdp, backend);
      await callerHangsUp(client, sbcUdp, two, backend);
      await recordFor(second, two.callId);
      assert.equal(readRecords(first).length, 1, 'the old file got nothing more');

      next = { ...sbc.config, callRecords: { ...sbc.config.callRecords, file: join(dir, 'missing', 'x.jsonl') } };
      const refused = await fetch(`${sbc.adminUrl}/api/reload`, { method: 'POST' });
      const why = (await refused.json()) as { key: string };
      assert.equal(refused.status, 400);
      assert.equal(why.key, 'callRecords.file');
      const three = await placeCall(client, sbcUdp, backend);
      await callerHangsUp(client, sbcUdp, three, backend);
      await recordFor(second, three.callId);
    } finally {
      client.close();
      backend.peer.close();
      await sbc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
