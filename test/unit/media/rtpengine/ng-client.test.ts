import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../../../src/log/logger.js';
import { decodeBencode, encodeBencode, type BencodeInput } from '../../../../src/media/rtpengine/bencode.js';
import { CookieSource } from '../../../../src/media/rtpengine/cookie.js';
import { NgError, NgTimeoutError, NgUnavailableError } from '../../../../src/media/rtpengine/errors.js';
import { NgClient } from '../../../../src/media/rtpengine/ng-client.js';

/** A scripted engine on a loopback UDP socket: records every datagram, answers as the script says. */
class ScriptedEngine {
  readonly received: Buffer[] = [];
  readonly #socket: Socket = createSocket('udp4');
  #script: (message: Buffer, index: number) => Buffer | Buffer[] | undefined = () => undefined;

  async start(): Promise<string> {
    this.#socket.on('message', (message: Buffer, from: RemoteInfo) => {
      const index = this.received.push(message) - 1;
      const out = this.#script(message, index);
      for (const reply of out === undefined ? [] : Array.isArray(out) ? out : [out]) this.#socket.send(reply, from.port, from.address);
    });
    await new Promise<void>((resolve) => this.#socket.bind(0, '127.0.0.1', resolve));
    return `udp:127.0.0.1:${this.#socket.address().port}`;
  }

  script(fn: (message: Buffer, index: number) => Buffer | Buffer[] | undefined): void {
    this.#script = fn;
  }

  close(): void {
    this.#socket.close();
  }
}

function cookieOf(message: Buffer): string {
  return message.toString('latin1', 0, message.indexOf(0x20));
}

function reply(cookie: string, dict: BencodeInput): Buffer {
  return Buffer.concat([Buffer.from(cookie + ' '), encodeBencode(dict)]);
}

async function setup(t: { after: (fn: () => void) => void }, options: ConstructorParameters<typeof NgClient>[1] = {}) {
  const engine = new ScriptedEngine();
  const url = await engine.start();
  const client = new NgClient(url, { timeoutMs: 100, tries: 3, ...options });
  t.after(() => {
    client.close();
    engine.close();
  });
  return { engine, client };
}

describe('NgClient over UDP (scripted engine)', () => {
  it('sends "<cookie> <bencode dict>" with the command and resolves with the reply', async (t) => {
    const { engine, client } = await setup(t);
    engine.script((m) => reply(cookieOf(m), { result: 'ok', sdp: 'v=0\r\n' }));
    const r = await client.request('offer', { 'call-id': 'c1', 'from-tag': 'f1', sdp: 'v=0\r\n', unset: undefined });
    assert.equal(r['sdp'], 'v=0\r\n');
    const sent = engine.received[0]!;
    const space = sent.indexOf(0x20);
    const dict = decodeBencode(sent.subarray(space + 1));
    assert.deepEqual(dict, { ok: true, value: { 'call-id': 'c1', command: 'offer', 'from-tag': 'f1', sdp: 'v=0\r\n' } });
  });

  it('resends a request without a reply with the same bytes and cookie, then takes the reply', async (t) => {
    const { engine, client } = await setup(t);
    engine.script((m, i) => (i < 2 ? undefined : reply(cookieOf(m), { result: 'pong' })));
    await client.ping();
    assert.equal(engine.received.length, 3);
    assert.deepEqual(engine.received[1], engine.received[0]);
    assert.deepEqual(engine.received[2], engine.received[0]);
  });

  it('gives NgTimeoutError after the configured tries, and gives each request a fresh cookie', async (t) => {
    const { engine, client } = await setup(t);
    await assert.rejects(client.request('ping', {}, { tries: 2, timeoutMs: 50 }), (e: unknown) => e instanceof NgTimeoutError && e.code === 'SBC_ERR_ENGINE_TIMEOUT' && e.tries === 2);
    assert.equal(engine.received.length, 2);
    await assert.rejects(client.request('ping', {}, { tries: 1, timeoutMs: 50 }), NgTimeoutError);
    assert.equal(engine.received.length, 3);
    assert.notEqual(cookieOf(engine.received[2]!), cookieOf(engine.received[0]!));
    assert.equal(client.stats().timeouts, 2);
  });

  it('matches replies by cookie when they arrive out of order, and drops unknown cookies', async (t) => {
    const { engine, client } = await setup(t);
    const held: Buffer[] = [];
    engine.script((m) => {
      held.push(m);
      if (held.length < 2) return undefined;
      // Answer the second first, each with its own call-id echoed, plus a stray reply.
      return [reply('stray_1_1', { result: 'ok', 'call-id': 'nobody' }), ...held.reverse().map((h) => reply(cookieOf(h), { result: 'ok', echo: callIdOf(h) }))];
    });
    const [a, b] = await Promise.all([client.request('query', { 'call-id': 'A' }), client.request('query', { 'call-id': 'B' })]);
    assert.equal(a['echo'], 'A');
    assert.equal(b['echo'], 'B');
  });

  it('turns result: error into NgError with the error-reason', async (t) => {
    const { engine, client } = await setup(t);
    engine.script((m) => reply(cookieOf(m), { result: 'error', 'error-reason': 'Unknown call-id' }));
    await assert.rejects(client.request('answer', { 'call-id': 'x' }), (e: unknown) => e instanceof NgError && e.reason === 'Unknown call-id' && e.command === 'answer');
    assert.equal(client.stats().errors, 1);
  });

  it('turns a malformed reply into NgError instead of crashing', async (t) => {
    const { engine, client } = await setup(t);
    engine.script((m) => Buffer.concat([Buffer.from(cookieOf(m) + ' '), Buffer.from('d6:result2:ok')]));
    await assert.rejects(client.request('ping'), (e: unknown) => e instanceof NgError && /malformed reply/.test(e.reason));
  });

  it('logs a warning carried by an ok reply', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { engine, client } = await setup(t, { logger: createLogger('warn', sink) });
    engine.script((m) => reply(cookieOf(m), { result: 'ok', warning: 'Incomplete delete' }));
    await client.request('delete', { 'call-id': 'x' });
    await new Promise((resolve) => setImmediate(resolve));
    const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['warning'] === 'Incomplete delete');
    assert.ok(entry, `no warning logged in ${lines.join('')}`);
    assert.equal(entry['command'], 'delete');
  });

  it('rejects what is in flight on close(), idempotently, and refuses new requests', async (t) => {
    const { client } = await setup(t, { timeoutMs: 10_000 });
    const pending = client.request('ping');
    client.close();
    client.close();
    await assert.rejects(pending, NgUnavailableError);
    await assert.rejects(client.request('ping'), NgUnavailableError);
    assert.equal(client.pendingCount, 0);
  });

  it('refuses requests beyond maxPending', async (t) => {
    const { client } = await setup(t, { timeoutMs: 10_000, maxPending: 1 });
    const first = client.request('ping');
    await assert.rejects(client.request('ping'), NgUnavailableError);
    client.close();
    await assert.rejects(first, NgUnavailableError);
  });

  it('refuses an engine URL it cannot use', () => {
    assert.throws(() => new NgClient('tcp:127.0.0.1:22222'), TypeError);
    assert.throws(() => new NgClient('udp:127.0.0.1'), TypeError);
  });
});

describe('CookieSource', () => {
  it('never repeats a cookie, and two sources (nodes) share no cookie', () => {
    const a = new CookieSource();
    const b = new CookieSource();
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      seen.add(a.next());
      seen.add(b.next());
    }
    assert.equal(seen.size, 10_000);
    for (const cookie of seen) assert.match(cookie, /^[0-9]+\.[0-9a-f]{12}_[0-9a-f]{8}_[0-9]+$/);
  });

  it('puts the pid and the node id in the cookie', () => {
    assert.ok(new CookieSource('node-b').next().startsWith(`${process.pid}.node-b_`));
    assert.throws(() => new CookieSource('has space'), TypeError);
  });
});


function callIdOf(message: Buffer): string {
  const r = decodeBencode(message.subarray(message.indexOf(0x20) + 1));
  assert.ok(r.ok);
  return String((r.value as Record<string, unknown>)['call-id']);
}
