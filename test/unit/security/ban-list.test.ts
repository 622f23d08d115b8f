import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BanList } from '../../../src/security/ban-list.js';

test('a ban lasts its duration, then ends by itself', () => {
  const bans = new BanList({ durationMs: 2000, maxSources: 10 });
  assert.equal(bans.ban('192.0.2.1', 1000), true);
  assert.equal(bans.isBanned('192.0.2.1', 1000), true);
  assert.equal(bans.isBanned('192.0.2.1', 2999), true);
  assert.equal(bans.isBanned('192.0.2.2', 1500), false);
  assert.equal(bans.isBanned('192.0.2.1', 3000), false);
  assert.equal(bans.size, 0, 'an ended ban seen on read is gone');
});

test('banning a banned source neither prolongs the ban nor counts as a new one', () => {
  const bans = new BanList({ durationMs: 1000, maxSources: 10 });
  assert.equal(bans.ban('192.0.2.1', 0), true);
  assert.equal(bans.ban('192.0.2.1', 900), false);
  assert.equal(bans.isBanned('192.0.2.1', 1000), false);
  assert.equal(bans.ban('192.0.2.1', 1000), true, 'once ended, a new ban');
});

test('bounded: at the cap the bans of sources quiet the longest go first', () => {
  const bans = new BanList({ durationMs: 60_000, maxSources: 4 });
  bans.ban('192.0.2.1', 0);
  bans.ban('192.0.2.2', 1);
  bans.ban('192.0.2.3', 2);
  assert.equal(bans.isBanned('192.0.2.1', 3), true, '.1 comes back while banned');
  bans.ban('192.0.2.4', 4);
  assert.ok(bans.size <= 4);
  assert.equal(bans.isBanned('192.0.2.2', 5), false, '.2 stayed quiet: its ban made room');
  assert.deepEqual(['192.0.2.1', '192.0.2.3', '192.0.2.4'].map((s) => bans.isBanned(s, 5)), [true, true, true]);
  for (let i = 0; i < 10_000; i++) bans.ban(`10.0.${i >> 8}.${i & 255}`, 6);
  assert.ok(bans.size <= 4);
});

test('the sweep frees ended bans and keeps running ones', () => {
  const bans = new BanList({ durationMs: 1000, maxSources: 10 });
  bans.ban('192.0.2.1', 0);
  bans.ban('192.0.2.2', 500);
  bans.sweep(1000);
  assert.equal(bans.size, 1);
  assert.equal(bans.isBanned('192.0.2.2', 1000), true);
  bans.sweep(1500);
  assert.equal(bans.size, 0);
});
