/**
 * RecordWebhook against a local HTTP server: a batch refused twice is sent
 * again after its back-off and arrives once; retries used up drop the batch
 * (counted); the queue never holds more than maxQueue; close() gives what is
 * queued one last try.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import { RecordWebhook } from '../../../src/records/index.js';

async function server(answer: (n: number) => number): Promise<{ url: string; bodies: string[]; close: () => Promise<void> }> {
  const bodies: string[] = [];
  let n = 0;
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = answer(n++);
      if (status < 300) bodies.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, bodies, close: () => new Promise((r) => s.close(() => r())) };
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

describe('RecordWebhook', () => {
  test('a batch refused twice arrives once after its back-off; nothing dropped', async () => {
    const s = await server((n) => (n < 2 ? 503 : 200));
    const dropped: Array<[string, number]> = [];
    const hook = new RecordWebhook({ url: s.url, timeoutMs: 1000, batchSize: 10, maxQueue: 100, retries: 3 }, silentLogger(), (r, n) => dropped.push([r, n]));
    hook.push('{"a":1}');
    hook.push('{"a":2}');
    await until(() => s.bodies.length > 0, 5000);
    await hook.close();
    await s.close();
    assert.equal(s.bodies.length >= 1, true);
    assert.deepEqual(s.bodies.flatMap((b) => JSON.parse(b) as unknown[]), [{ a: 1 }, { a: 2 }]);
    assert.deepEqual(dropped, []);
  });

  test('retries used up: the batch is dropped and counted; the queue stays within maxQueue', async () => {
    const s = await server(() => 500);
    const dropped: Array<[string, number]> = [];
    const hook = new RecordWebhook({ url: s.url, timeoutMs: 1000, batchSize: 1, maxQueue: 3, retries: 0 }, silentLogger(), (r, n) => dropped.push([r, n]));
    for (let i = 0; i < 10; i++) {
      hook.push(`{"i":${i}}`);
      assert.ok(hook.queued <= 3);
    }
    await until(() => dropped.some(([r]) => r === 'webhook-failed'), 3000);
    await hook.close();
    await s.close();
    const count = (reason: string): number => dropped.filter(([r]) => r === reason).reduce((a, [, n]) => a + n, 0);
    assert.ok(count('webhook-queue-full') > 0);
    assert.equal(count('webhook-queue-full') + count('webhook-failed'), 10, 'every record is accounted for');
  });
});
