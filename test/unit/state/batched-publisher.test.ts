import assert from 'node:assert/strict';
import { readFile } from 'node:fs';
import { describe, test } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import { BatchedPublisher } from '../../../src/state/batched-publisher.js';
import { MemoryStore } from '../../../src/state/memory-store.js';
import { eventually } from './store-conformance.js';

describe('BatchedPublisher', () => {
  test('lines added in a burst reach subscribers as one message, in order; past maxLines they are dropped and counted', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const got: string[] = [];
    await store.subscribe('bans', (m) => got.push(m));
    const publisher = new BatchedPublisher({ store, channel: 'bans', logger: silentLogger(), intervalMs: 5, maxLines: 3 });
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) publisher.add(ip);
    await eventually(() => got.length === 1, 'one message');
    assert.deepEqual(got, ['192.0.2.1\n192.0.2.2\n192.0.2.3']);
    assert.equal(publisher.dropped, 1);
    publisher.add('192.0.2.5');
    publisher.close();
    publisher.add('192.0.2.6');
    assert.deepEqual(got, ['192.0.2.1\n192.0.2.2\n192.0.2.3', '192.0.2.5'], 'close() sent what was waiting, and nothing is taken after it');
  });

  test('intervalMs 0: what one turn of the event loop added leaves at the end of that turn, not a timer tick later', async (t) => {
    const store = new MemoryStore();
    t.after(() => store.close());
    const got: string[] = [];
    await store.subscribe('calls', (m) => got.push(m));
    const publisher = new BatchedPublisher({ store, channel: 'calls', logger: silentLogger(), intervalMs: 0 });
    t.after(() => publisher.close());
    // Added from an I/O callback, as a received INVITE is admitted; looked at from the end of the same turn (an
    // immediate queued after the adds): a timer-based flush (even of 0 ms) would only run in the next turn.
    const seenByTimer = await new Promise<string[]>((resolve, reject) => {
      readFile(import.meta.filename ?? new URL(import.meta.url).pathname, (err) => {
        if (err) return reject(err);
        publisher.add('+ a 1 alice');
        publisher.add('+ a 2 bob');
        assert.deepEqual(got, [], 'not within the same callback');
        setImmediate(() => resolve([...got]));
      });
    });
    assert.deepEqual(seenByTimer, ['+ a 1 alice\n+ a 2 bob'], 'one message for the turn, published within it');
  });
});
