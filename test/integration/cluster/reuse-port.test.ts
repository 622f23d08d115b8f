/**
 * The SO_REUSEPORT addon as dgram sees it: two sockets bound on one port,
 * datagrams from one source always reach the same socket, and both sockets
 * send from the shared port.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, test } from 'node:test';
import { bindReusePort } from '../../../src/transport/reuse-port.js';
import { reusePortAddon } from '../../../src/transport/index.js';

async function adopt(fd: number): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ fd, exclusive: true }, () => resolve()));
  return s;
}

describe('SO_REUSEPORT addon (native/reuseport)', () => {
  test('is built by npm install on this machine', () => {
    const a = reusePortAddon();
    assert.ok(a.ok, a.ok ? '' : a.reason);
  });

  test('two sockets share a port; each source stays on one of them; both send from the shared port', async () => {
    const a = await adopt(bindReusePort('127.0.0.1', 0));
    const port = a.address().port;
    const b = await adopt(bindReusePort('127.0.0.1', port));
    assert.equal(b.address().port, port);
    const seen = new Map<number, Set<string>>();
    for (const [name, s] of [['a', a], ['b', b]] as const) {
      s.on('message', (_m, ri) => {
        const set = seen.get(ri.port) ?? new Set<string>();
        set.add(name);
        seen.set(ri.port, set);
      });
    }
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const c = createSocket('udp4');
        await new Promise<void>((resolve) => c.bind(0, '127.0.0.1', () => resolve()));
        clients.push(c);
      }
      let expected = 0;
      for (let round = 0; round < 10; round++) {
        for (const c of clients) { c.send('x', port, '127.0.0.1'); expected += 1; }
      }
      const deadline = Date.now() + 5000;
      const total = (): number => clients.reduce((n, c) => n + (seen.get(c.address().port)?.size ?? 0), 0);
      while (seen.size < clients.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen.size, clients.length, 'every source was heard');
      assert.ok(expected > 0 && total() === clients.length, 'each source reached exactly one socket');
      const owners = new Set([...seen.values()].map((s) => [...s][0]));
      assert.deepEqual([...owners].sort(), ['a', 'b'], 'sixteen sources were spread over both sockets');

      const from = await new Promise<number>((resolve) => {
        clients[0]!.once('message', (_m, ri) => resolve(ri.port));
        b.send('y', clients[0]!.address().port, '127.0.0.1');
      });
      assert.equal(from, port);
    } finally {
      for (const c of clients) c.close();
      a.close();
      b.close();
    }
  });

  test('a bind that cannot succeed throws with the reason', () => {
    assert.throws(() => bindReusePort('192.0.2.1', 5), /bind: Cannot assign requested address/);
    assert.throws(() => bindReusePort('not-an-ip', 5), /IPv4 or IPv6/);
  });
});
