import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/log/logger.js';
import { MemoryStore } from '../../../src/state/index.js';
import { MirroredRecords, type RecordStore } from '../../../src/state/mirrored-records.js';

/** A real MemoryStore as the shared store, with the writes that reached it counted. */
function shared(): { store: MemoryStore; writes: string[]; records: RecordStore } {
  const store = new MemoryStore();
  const writes: string[] = [];
  const records: RecordStore = {
    hset: (key, fields, ttl) => { writes.push(`hset ${key} ${Object.keys(fields).sort().join(',')} ${ttl}`); return store.hset(key, fields, ttl); },
    hgetall: (key) => store.hgetall(key),
    expire: (key, ttl) => { writes.push(`expire ${key} ${ttl}`); return store.expire(key, ttl); },
    delete: (key) => { writes.push(`delete ${key}`); return store.delete(key); },
  };
  return { store, writes, records };
}

/** Flushed by hand: the timer runs every hour. */
const HOUR = 3_600_000;

describe('MirroredRecords', () => {
  it('answers from its own memory and mirrors the whole record, several changes as one write', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: HOUR, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    await m.hset('topo:a', { 'r.x': '[]' }, 180);
    await m.hset('topo:a', { 'c.y': 'sip:bob@10.0.0.9' }, 43_200);
    assert.deepEqual(await m.hgetall('topo:a'), { 'r.x': '[]', 'c.y': 'sip:bob@10.0.0.9' });
    assert.deepEqual(await s.store.hgetall('topo:a'), {}, 'nothing in the shared store before the flush');
    m.flush();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.writes, ['hset topo:a c.y,r.x 43200'], 'one write with the record and its last TTL');
    assert.deepEqual(await s.store.hgetall('topo:a'), { 'r.x': '[]', 'c.y': 'sip:bob@10.0.0.9' });
  });

  it('a record that comes and goes within one period never reaches the shared store; one mirrored before is deleted there', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: HOUR, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    await m.hset('topo:short', { 'r.x': '[]' }, 180);
    assert.equal(await m.delete('topo:short'), true);
    await m.hset('topo:long', { 'r.x': '[]' }, 180);
    m.flush();
    assert.equal(await m.delete('topo:long'), true);
    m.flush();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.writes, ['hset topo:long r.x 180', 'delete topo:long']);
    assert.deepEqual(await s.store.hgetall('topo:long'), {});
    assert.deepEqual(await m.hgetall('topo:short'), {});
  });

  it('reads, refreshes and deletes a record it does not hold (a predecessor\'s) in the shared store', async (t) => {
    const s = shared();
    await s.store.hset('topo:old', { 'c.y': 'sip:bob@10.0.0.9' }, 60);
    const m = new MirroredRecords(s.records, { flushMs: HOUR, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    assert.deepEqual(await m.hgetall('topo:old'), { 'c.y': 'sip:bob@10.0.0.9' });
    assert.equal(await m.expire('topo:old', 43_200), true);
    assert.equal(await m.delete('topo:old'), true);
    assert.deepEqual(await s.store.hgetall('topo:old'), {});
    assert.equal(m.size, 0);
  });

  it('a record deleted and written again in one period replaces the shared copy', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: HOUR, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    await m.hset('topo:a', { 'r.old': '[]' }, 180);
    m.flush();
    await m.delete('topo:a');
    await m.hset('topo:a', { 'r.new': '[]' }, 180);
    m.flush();
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(await s.store.hgetall('topo:a'), { 'r.new': '[]' });
  });

  it('keeps at most maxRecords: the oldest is mirrored and then read from the shared store', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: HOUR, maxRecords: 2, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    for (const k of ['a', 'b', 'c']) await m.hset(`topo:${k}`, { [`c.${k}`]: k }, 60);
    assert.equal(m.size, 2);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.writes, ['hset topo:a c.a 60']);
    assert.deepEqual(await m.hgetall('topo:a'), { 'c.a': 'a' }, 'served by the shared store');
  });

  it('close sends the last changes; later writes go straight to the shared store', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: HOUR, logger: silentLogger() });
    t.after(() => s.store.close());
    await m.hset('topo:a', { 'r.x': '[]' }, 180);
    m.close();
    await m.hset('topo:b', { 'r.y': '[]' }, 180);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(await s.store.hgetall('topo:a'), { 'r.x': '[]' });
    assert.deepEqual(await s.store.hgetall('topo:b'), { 'r.y': '[]' });
  });

  it('mirrors on its own timer', async (t) => {
    const s = shared();
    const m = new MirroredRecords(s.records, { flushMs: 20, logger: silentLogger() });
    t.after(() => { m.close(); void s.store.close(); });
    await m.hset('topo:a', { 'r.x': '[]' }, 180);
    const deadline = Date.now() + 2000;
    while (Object.keys(await s.store.hgetall('topo:a')).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await s.store.hgetall('topo:a'), { 'r.x': '[]' });
  });
});
