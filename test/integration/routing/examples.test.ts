/**
 * Every script in examples/routing/ through a real gateway: calls from a
 * phone outside, scripted UASes as the groups the example names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../../helpers/paths.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { group, Phone, Uas } from './harness.js';

const example = (name: string): string => join(repoRoot, 'examples', 'routing', name);

/** A gateway running `script` with one UAS per group name (two for `twoTargets`). */
async function bedFor(script: string, groups: string[], extra: Record<string, unknown> = {}, twoTargets: string[] = []): Promise<{ sbc: TestSbc; phone: Phone; uas: Map<string, Uas[]>; close(): Promise<void> }> {
  const uas = new Map<string, Uas[]>();
  const backends: Record<string, unknown> = {};
  const all: Uas[] = [];
  for (const g of groups) {
    const members = await Promise.all((twoTargets.includes(g) ? [`${g}#1`, `${g}#2`] : [g]).map((n) => Uas.start(n)));
    uas.set(g, members);
    all.push(...members);
    backends[g] = group(...members);
  }
  const sbc = await startSbc({ backends, routing: { script: example(script) }, ...extra });
  const phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, all);
  return {
    sbc,
    phone,
    uas,
    close: async () => {
      phone.peer.close();
      for (const u of all) u.peer.close();
      await sbc.stop();
    },
  };
}

describe('examples/routing/number-translation.mjs', () => {
  let b: Awaited<ReturnType<typeof bedFor>>;
  before(async () => { b = await bedFor('number-translation.mjs', ['default', 'carrier']); });
  after(async () => b.close());

  test('00…, 0… and speed dials reach the carrier as E.164; names go the usual way; a short number is refused', async () => {
    const cases: Array<[string, string]> = [['0044207123456', '+44207123456'], ['030123456', '+4930123456'], ['*1', '+4930123456'], ['+14155550100', '+14155550100']];
    for (const [dialed, e164] of cases) {
      const r = await b.phone.call({ uri: `sip:${dialed}@example.com` });
      assert.equal(r.reached, 'carrier', dialed);
      assert.equal(r.ruri, `sip:${e164}@example.com`, dialed);
    }
    assert.equal((await b.phone.call({ uri: 'sip:alice@example.com' })).reached, 'default');
    const short = await b.phone.call({ uri: 'sip:12@example.com' });
    assert.equal(short.status, 484);
    assert.deepEqual(short.tried, []);
  });
});

describe('examples/routing/prefix-failover.mjs', () => {
  let b: Awaited<ReturnType<typeof bedFor>>;
  before(async () => {
    b = await bedFor('prefix-failover.mjs', ['default', 'carrier-de', 'carrier-int', 'emergency'], {}, ['carrier-de']);
    b.uas.get('carrier-de')![0]!.mode = 'unavailable';
  });
  after(async () => b.close());

  test('the longest prefix picks the group; its first carrier refuses with 503 and the second one takes the call', async () => {
    const de = await b.phone.call({ uri: 'sip:+4930123@example.com' });
    assert.deepEqual(de.tried, ['carrier-de#1', 'carrier-de#2']);
    assert.equal(de.ruri, 'sip:+4930123@example.com');
    assert.equal((await b.phone.call({ uri: 'sip:+1415555@example.com' })).reached, 'carrier-int');
    assert.equal((await b.phone.call({ uri: 'sip:112@example.com' })).reached, 'emergency');
    assert.equal((await b.phone.call({ uri: 'sip:alice@example.com' })).reached, 'default');
  });
});

describe('examples/routing/time-of-day.mjs', () => {
  const saved = { days: process.env.OFFICE_DAYS, hours: process.env.OFFICE_HOURS };
  // The script reads the gateway's environment: each gateway starts with its office hours set
  // (a gateway with workers runs in a process of its own, which takes the environment it starts with).
  const bedWithHours = async (hours: string): Promise<Awaited<ReturnType<typeof bedFor>>> => {
    process.env.OFFICE_DAYS = '0-6';
    process.env.OFFICE_HOURS = hours;
    return bedFor('time-of-day.mjs', ['default', 'office', 'voicemail']);
  };
  after(() => {
    process.env.OFFICE_DAYS = saved.days;
    process.env.OFFICE_HOURS = saved.hours;
    if (saved.days === undefined) delete process.env.OFFICE_DAYS;
    if (saved.hours === undefined) delete process.env.OFFICE_HOURS;
  });

  test('open: the office group; closed: voicemail with the original target, the hotline 480 with Retry-After', async () => {
    const open = await bedWithHours('0-24');
    try {
      assert.equal((await open.phone.call({ uri: 'sip:office-sales@example.com' })).reached, 'office');
    } finally {
      await open.close();
    }
    const b = await bedWithHours('0-0');
    try {
      const vm = await b.phone.call({ uri: 'sip:office-sales@example.com' });
      assert.equal(vm.reached, 'voicemail');
      assert.equal(vm.invite!.headers.get('x-original-target'), 'office-sales');
      const hotline = await b.phone.call({ uri: 'sip:hotline@example.com' });
      assert.equal(hotline.status, 480);
      assert.equal(hotline.response.headers.get('retry-after'), '3600');
      assert.equal((await b.phone.call({ uri: 'sip:bob@example.com' })).reached, 'default');
    } finally {
      await b.close();
    }
  });

  test('isOpen() reads the days, the hours and the time zone', async () => {
    const { isOpen } = (await import(example('time-of-day.mjs'))) as { isOpen: (d: Date, env: Record<string, string>) => boolean };
    const mondayNoonUtc = new Date('2026-12-07T12:00:00Z');
    assert.equal(isOpen(mondayNoonUtc, { OFFICE_DAYS: '1-5', OFFICE_HOURS: '8-18', OFFICE_TZ: 'UTC' }), true);
    assert.equal(isOpen(mondayNoonUtc, { OFFICE_DAYS: '1-5', OFFICE_HOURS: '8-12', OFFICE_TZ: 'UTC' }), false);
    assert.equal(isOpen(mondayNoonUtc, { OFFICE_DAYS: '1-5', OFFICE_HOURS: '8-18', OFFICE_TZ: 'Pacific/Kiritimati' }), false, '02:00 on Tuesday there');
    assert.equal(isOpen(new Date('2026-12-06T12:00:00Z'), { OFFICE_DAYS: '1-5', OFFICE_HOURS: '8-18', OFFICE_TZ: 'UTC' }), false, 'Sunday');
  });
});

describe('examples/routing/per-tenant.mjs', () => {
  let b: Awaited<ReturnType<typeof bedFor>>;
  before(async () => {
    b = await bedFor('per-tenant.mjs', ['default', 'acme', 'globex', 'carrier'], {
      routes: [{ domain: 'acme.example', backend: 'acme' }, { domain: 'globex.example', backend: 'globex' }],
    });
  });
  after(async () => b.close());

  test('each tenant\'s names reach its own group, numbers the carrier with the tenant\'s account; an unknown domain is refused', async () => {
    assert.equal((await b.phone.call({ uri: 'sip:bob@acme.example' })).reached, 'acme');
    assert.equal((await b.phone.call({ uri: 'sip:bob@globex.example' })).reached, 'globex');
    const out = await b.phone.call({ uri: 'sip:+4930123@globex.example' });
    assert.equal(out.reached, 'carrier');
    assert.equal(out.invite!.headers.get('x-account'), 'G-2002');
    const unknown = await b.phone.call({ uri: 'sip:bob@initech.example' });
    assert.equal(unknown.status, 403);
    assert.deepEqual(unknown.tried, []);
  });
});

describe('the package types', () => {
  test('every example type-checks against the types the package exports for script authors', (t) => {
    const types = join(repoRoot, 'dist', 'src', 'routing', 'script', 'types.d.ts');
    if (!existsSync(types)) {
      t.skip('dist/src/routing/script/types.d.ts not built (npm run build makes it)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'sbc-types-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        allowJs: true, checkJs: true, noEmit: true, strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022',
        types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')], baseUrl: '.', paths: { 'webrtc-sbc': [types] },
      },
      files: ['number-translation.mjs', 'prefix-failover.mjs', 'time-of-day.mjs', 'per-tenant.mjs'].map((f) => example(f)),
    }));
    const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
