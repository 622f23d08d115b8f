/**
 * The SBC on `state.store: redis`, over real sockets: a call relayed with
 * topology hiding keeps its record in Redis under `state.redis.keyPrefix`
 * (read back with a plain Redis client) while it is up, and the record is
 * gone after BYE. A gateway whose Redis cannot be reached refuses to start,
 * as any other start-up failure: exit code 1 and a log line naming the URL,
 * never its password.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { SipResponse } from '../../../src/sip/message.js';
import { sbcCommand } from '../../helpers/paths.js';
import { startRedis, type RunningRedis } from '../../helpers/redis.js';
import { startSbc, topologyRecords, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, SipPeer, uacRouteSet, type Received } from '../../helpers/sip-peer.js';
import { startBackend, type Backend } from '../topology/backend.js';

const KEY_PREFIX = 'sbc-e2e:';
const isReq = (m: string, callId: string) => (r: Received) => r.msg.kind === 'request' && r.msg.method === m && r.msg.callId === callId;
const isRes = (status: number, method: string, callId: string) => (r: Received) =>
  r.msg.kind === 'response' && r.msg.status === status && r.msg.cseq()?.method === method && r.msg.callId === callId;
const uriOf = (nameAddr: string): string => nameAddr.replace(/^[^<]*</, '').replace(/>.*$/, '');

describe('topology records in Redis (proxy mode, UDP client, backend on 127.0.0.2)', () => {
  let redis: RunningRedis;
  let reader: Redis;
  let backend: Backend;
  let sbc: TestSbc;
  let client: SipPeer;

  before(async () => {
    redis = await startRedis();
    reader = new Redis(redis.url, { lazyConnect: true });
    await reader.connect();
    backend = await startBackend();
    sbc = await startSbc({
      backends: { default: { targets: [{ uri: backend.uri }] } },
      topologyHiding: { enabled: true },
      state: { store: 'redis', redis: { url: redis.url, keyPrefix: KEY_PREFIX } },
      timers: { t1Ms: 50 },
    });
    client = await SipPeer.udp('127.0.0.1');
  });
  after(async () => {
    client?.close();
    backend?.close();
    await sbc?.stop();
    reader?.disconnect();
    await redis?.stop();
  });

  test('while the call is up its record is in Redis under the key prefix, with a TTL; after BYE it is gone', async () => {
    const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const me = `127.0.0.1:${client.address.port}`;
    const callId = rand(8);
    client.send(request({ method: 'INVITE', uri: 'sip:1000@example.com', sentBy: me, callId, fromTag: 'r1', contact: `<sip:bob@${me}>` }), sbcUdp);
    const ok = await client.next(isRes(200, 'INVITE', callId));
    const res = ok.msg as SipResponse;
    const contact = uriOf(res.headers.get('contact')!);
    const recordKey = /^sip:(k[0-9a-f]{18})@/.exec(contact)?.[1];
    assert.ok(recordKey !== undefined, `the client sees our keyed Contact, not the backend's: ${contact}`);
    const base = { sentBy: me, callId, fromTag: 'r1', toTag: res.to()!.params.get('tag')!, uri: contact, headers: uacRouteSet(res).map((r) => `Route: ${r}`) };
    client.send(request({ ...base, method: 'ACK', cseq: 1 }), sbcUdp);
    await backend.peer.next(isReq('ACK', callId));

    const secretKey = `${KEY_PREFIX}secret:flow-token`;
    const all = await reader.keys('*');
    assert.deepEqual(all.sort(), [secretKey, `${KEY_PREFIX}topo:${recordKey}`].sort(), 'one record and the flow-token secret the nodes share, the prefix applied exactly once');
    const keys = all.filter((k) => k !== secretKey);
    const record = await reader.hgetall(keys[0]!);
    const stored = Object.entries(record);
    assert.ok(stored.some(([field, value]) => field.startsWith('c.') && value === backend.contact), `the backend's Contact is kept for the way back: ${JSON.stringify(record)}`);
    assert.ok(stored.some(([field]) => field.startsWith('r.')), `the route set behind us is kept: ${JSON.stringify(record)}`);
    const ttl = await reader.pttl(keys[0]!);
    assert.ok(ttl > 0, `the record has a TTL (${ttl} ms)`);
    assert.equal(await topologyRecords(sbc), 1);

    client.send(request({ ...base, method: 'BYE', cseq: 2 }), sbcUdp);
    const bye = await backend.peer.next(isReq('BYE', callId));
    assert.equal(bye.msg.kind === 'request' && bye.msg.uri, backend.contact, 'the BYE reaches the backend through the record read back from Redis');
    await client.next(isRes(200, 'BYE', callId));
    // The record goes after the final response is relayed: give the relay chain a moment.
    const records = async (): Promise<string[]> => (await reader.keys(`${KEY_PREFIX}*`)).filter((k) => k !== secretKey);
    let left = await records();
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      left = await records();
    }
    assert.deepEqual(left, [], 'no record left after BYE');
  });
});

describe('start-up with an unreachable Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-redis-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the gateway refuses to start: exit code 1, a fatal line naming the URL without its password', async () => {
    const file = join(dir, 'sbc.yaml');
    writeFileSync(file, `listen:
  - { transport: udp, address: 127.0.0.1, port: 0 }
tls: { cert: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')} }
admin: { listen: "127.0.0.1:0" }
web: { enabled: false }
state:
  store: redis
  redis: { url: "redis://sbc:pw-never-logged@127.0.0.1:1/2" }
`);
    const { command, args } = sbcCommand();
    const child = spawn(command, [...args, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 1, out);
    const fatal = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string; err?: { message: string; code: string } }).find((l) => l.level === 'fatal');
    assert.ok(fatal !== undefined, `a fatal log line: ${out}`);
    assert.equal(fatal.msg, 'start-up failed');
    assert.equal(fatal.err?.code, 'SBC_ERR_STATE_UNAVAILABLE');
    assert.match(fatal.err?.message ?? '', /cannot reach Redis at redis:\/\/sbc@127\.0\.0\.1:1\/2 \(.*ECONNREFUSED/);
    assert.match(fatal.err?.message ?? '', /state\.store=memory/);
    assert.doesNotMatch(out, /pw-never-logged/);
    assert.doesNotMatch(out, /webrtc-sbc started/);
  });
});
