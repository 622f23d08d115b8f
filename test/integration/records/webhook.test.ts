/**
 * The call records webhook against real HTTP servers: one that takes the
 * batches, one whose port refuses connections, one that accepts and never
 * answers. Calls complete whatever the webhook does, its queue stays within
 * maxQueue, and what it drops is counted in sbc_call_records_dropped_total.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CallRecord } from '../../../src/records/index.js';
import { freePortInRange } from '../../helpers/free-port.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { startSbc, startSbcInProcess, type TestSbc } from '../../helpers/sbc.js';
import { backends, callerHangsUp, placeCall, readRecords, sleep, uas } from './records-helpers.js';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; sockets: Set<Socket> }> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/records`, sockets };
}

async function closeServer(s: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const sock of s.sockets) sock.destroy();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** `n` calls one after another through the SBC, each answered and hung up by the caller; resolves with how many completed. */
async function calls(n: number, webhook: Record<string, unknown>, check: (sbc: TestSbc, file: string) => Promise<void>, start: typeof startSbc = startSbc): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-webhook-'));
  const file = join(dir, 'calls.jsonl');
  const backend = await uas();
  const sbc = await start({ backends: backends(backend), timers: { t1Ms: 50 }, callRecords: { file, webhook } });
  const client = await SipPeer.udp();
  const sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
  try {
    let completed = 0;
    for (let i = 0; i < n; i++) {
      const call = await placeCall(client, sbcUdp, backend);
      await callerHangsUp(client, sbcUdp, call, backend);
      completed++;
    }
    assert.equal(completed, n, 'every call completed');
    // The file is written asynchronously: the last records may still be on their way.
    const until = Date.now() + 5000;
    while (readRecords(file).length < n && Date.now() < until) await sleep(25);
    await check(sbc, file);
  } finally {
    client.close();
    backend.peer.close();
    await sbc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('call records webhook', () => {
  test('a webhook that answers gets every record, in JSON-array batches of at most batchSize', async () => {
    const batches: CallRecord[][] = [];
    const hook = await listen((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        assert.equal(req.method, 'POST');
        assert.match(req.headers['content-type'] ?? '', /application\/json/);
        batches.push(JSON.parse(body) as CallRecord[]);
        res.writeHead(204).end();
      });
    });
    try {
      await calls(12, { url: hook.url, batchSize: 5 }, async (_sbc, file) => {
        const until = Date.now() + 5000;
        while (batches.flat().length < 12 && Date.now() < until) await sleep(25);
        assert.equal(batches.flat().length, 12);
        assert.ok(batches.every((b) => Array.isArray(b) && b.length >= 1 && b.length <= 5));
        assert.deepEqual(batches.flat().map((r) => r.callId).sort(), readRecords(file).map((r) => r.callId).sort(), 'the same records as the file');
        assert.ok(batches.flat().every((r) => r.reason === 'bye-caller'));
      });
    } finally {
      await closeServer(hook);
    }
  });

  test('a webhook whose port refuses connections: calls complete, the queue stays bounded, drops are counted', async () => {
    const port = await freePortInRange(20000, 32000);
    await calls(30, { url: `http://127.0.0.1:${port}/records`, maxQueue: 4, retries: 2, timeoutMs: 200, batchSize: 2 }, async (sbc, file) => {
      assert.equal(readRecords(file).length, 30, 'the file still gets every record');
      assert.ok(sbc.server.callRecords.sinks.queued <= 4, `queue ${sbc.server.callRecords.sinks.queued} within maxQueue`);
      assert.ok(await metric(sbc.adminUrl, 'sbc_call_records_dropped_total{reason="webhook-queue-full"}') > 0, 'drops counted');
      assert.equal(await metric(sbc.adminUrl, 'sbc_call_records_total{reason="bye-caller"}'), 30);
    }, startSbcInProcess); // reads the webhook sink's queue length, which no API shows
  });

  test('a webhook that accepts and never answers: calls complete, the queue stays bounded, drops are counted', async () => {
    let requests = 0;
    const hook = await listen(() => {
      requests++; // never answered
    });
    try {
      await calls(30, { url: hook.url, maxQueue: 4, retries: 1, timeoutMs: 300, batchSize: 2 }, async (sbc, file) => {
        assert.equal(readRecords(file).length, 30);
        assert.ok(requests >= 1, 'the webhook was tried');
        assert.ok(sbc.server.callRecords.sinks.queued <= 4);
        assert.ok(await metric(sbc.adminUrl, 'sbc_call_records_dropped_total') > 0);
      }, startSbcInProcess); // reads the webhook sink's queue length, which no API shows
    } finally {
      await closeServer(hook);
    }
  });
});
