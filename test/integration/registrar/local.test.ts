/**
 * The SBC as registrar (registrar.mode local) against scripted SIP peers
 * over real UDP and TCP sockets: registering, querying, expiry, removal
 * (expires=0 and `*`), 423, a foreign domain, the per-AOR and total binding
 * limits under a flood of new Contacts, digest authentication in front of
 * it, and calls to registered users: parallel forking (first 2xx wins, the
 * other branch is cancelled; a 6xx stops the fork), 404 for an unknown user,
 * 430 when the user's flow is gone, and in-dialog requests both ways.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../src/sip/message.js';
import { computeHa1, computeResponse, parseDigestChallenge } from '../../../src/sip/digest.js';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { rand, request, response, SipPeer, uacRouteSet, uasRouteSet, type Received } from '../../helpers/sip-peer.js';

const DOMAIN = 'example.test';

interface ApiRegistrations {
  mode: string;
  count: number;
  registrations: Array<{ aor: string; contacts: Array<{ contact: string; expiresInSeconds: number; flow: string; transport: string; flowUp: boolean; instance?: string; regId?: number; q?: number }> }>;
}

async function registrations(sbc: TestSbc): Promise<ApiRegistrations> {
  const res = await fetch(`${sbc.adminUrl}/api/registrations`);
  assert.equal(res.status, 200);
  return (await res.json()) as ApiRegistrations;
}

async function metric(sbc: TestSbc, reason: string): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const m = new RegExp(`^sbc_rejected_requests_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** A phone: a peer plus how it reaches the SBC and what it registers. */
class Phone {
  cseq = 1;
  readonly callId = `reg-${rand(6)}`;
  constructor(readonly peer: SipPeer, readonly sbc: { address: string; port: number } | undefined, readonly user: string) {}

  get transport(): string {
    return this.peer.transport === 'udp' ? 'UDP' : 'TCP';
  }

  get contactUri(): string {
    const t = this.peer.transport === 'tcp' ? ';transport=tcp' : '';
    return `sip:${this.user}@127.0.0.1:${this.peer.address.port}${t}`;
  }

  send(text: string): void {
    this.peer.send(text, this.sbc);
  }

  /** REGISTER and its final response. */
  async register(o: { aor?: string; ruri?: string; contact?: string; expiresHeader?: number; headers?: string[] } = {}): Promise<SipResponse> {
    const aor = o.aor ?? `sip:${this.user}@${DOMAIN}`;
    const cseq = this.cseq++;
    this.send(request({
      method: 'REGISTER', uri: o.ruri ?? `sip:${DOMAIN}`, sentBy: `127.0.0.1:${this.peer.address.port}`, viaTransport: this.transport,
      from: `<${aor}>`, to: `<${aor}>`, callId: this.callId, cseq,
      ...(o.contact !== '' ? { contact: o.contact ?? `<${this.contactUri}>` } : {}),
      headers: [...(o.expiresHeader !== undefined ? [`Expires: ${o.expiresHeader}`] : []), ...(o.headers ?? [])],
    }));
    const r = await this.peer.next((x) => x.msg.kind === 'response' && x.msg.status >= 200 && x.msg.cseq()?.method === 'REGISTER' && x.msg.cseq()?.seq === cseq);
    return r.msg as SipResponse;
  }
}

async function udpPhone(sbc: TestSbc, user: string): Promise<Phone> {
  return new Phone(await SipPeer.udp(), { address: '127.0.0.1', port: sbc.listener('udp').boundPort }, user);
}

async function tcpPhone(sbc: TestSbc, user: string): Promise<Phone> {
  return new Phone(await SipPeer.tcp(sbc.listener('tcp').boundPort), undefined, user);
}

function contactsOf(res: SipResponse): Array<{ uri: string; expires: number | undefined }> {
  const c = res.contacts();
  if (!Array.isArray(c)) return [];
  return c.map((na) => ({ uri: `sip:${na.uri.user ?? ''}@${na.uri.host}:${na.uri.port ?? ''}`, expires: na.params.get('expires') == null ? undefined : Number(na.params.get('expires')) }));
}

const waitUntil = async (cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('local registrar: REGISTER', () => {
  let sbc: TestSbc;
  const peers: SipPeer[] = [];
  const phone = async (kind: 'udp' | 'tcp', user = `u${rand(3)}`): Promise<Phone> => {
    const p = kind === 'udp' ? await udpPhone(sbc, user) : await tcpPhone(sbc, user);
    peers.push(p.peer);
    return p;
  };

  before(async () => {
    // No backend and no registrar.mode: local is the default.
    sbc = await startSbc({ registrar: { domains: [DOMAIN], minExpires: 2, maxExpires: 300, maxBindingsPerAor: 3, maxBindings: 8 }, timers: { t1Ms: 50 } });
  });
  after(async () => {
    for (const p of peers) p.close();
    await sbc.stop();
  });

  test('with no backend the registrar is local; a UDP phone registers, the 200 lists its binding with expires, the API shows it', async () => {
    assert.equal((await registrations(sbc)).mode, 'local');
    const p = await phone('udp');
    const ok = await p.register({ expiresHeader: 120 });
    assert.equal(ok.status, 200);
    assert.deepEqual(contactsOf(ok), [{ uri: `sip:${p.user}@127.0.0.1:${p.peer.address.port}`, expires: 120 }]);
    const api = await registrations(sbc);
    const mine = api.registrations.find((r) => r.aor === `sip:${p.user}@${DOMAIN}`);
    assert.ok(mine, JSON.stringify(api));
    assert.equal(mine.contacts.length, 1);
    assert.equal(mine.contacts[0]!.transport, 'udp');
    assert.equal(mine.contacts[0]!.flowUp, true);
    assert.ok(mine.contacts[0]!.expiresInSeconds > 100 && mine.contacts[0]!.expiresInSeconds <= 120);

    // A REGISTER without Contact is a query; expires above maxExpires is granted maxExpires.
    const query = await p.register({ contact: '' });
    assert.equal(query.status, 200);
    assert.equal(contactsOf(query).length, 1);
    const long = await p.register({ contact: `<${p.contactUri}>;expires=99999` });
    assert.equal(contactsOf(long)[0]!.expires, 300);
  });

  test('expires=0 removes one binding, the others stay; Contact: * with Expires: 0 removes all (without it: 400)', async () => {
    const p = await phone('tcp');
    const second = `<sip:${p.user}-2@127.0.0.1:${p.peer.address.port};transport=tcp>`;
    assert.equal((await p.register({ expiresHeader: 60 })).status, 200);
    const both = await p.register({ contact: second, expiresHeader: 60 });
    assert.equal(contactsOf(both).length, 2, 'the 200 lists every binding of the AOR');

    const removed = await p.register({ contact: `<${p.contactUri}>;expires=0` });
    assert.equal(removed.status, 200);
    assert.deepEqual(contactsOf(removed).map((c) => c.uri), [`sip:${p.user}-2@127.0.0.1:${p.peer.address.port}`]);

    const bad = await p.register({ contact: '*' });
    assert.equal(bad.status, 400);
    assert.match(bad.reason, /Expires: 0/);
    const all = await p.register({ contact: '*', expiresHeader: 0 });
    assert.equal(all.status, 200);
    assert.equal(contactsOf(all).length, 0);
    assert.equal((await registrations(sbc)).registrations.some((r) => r.aor === `sip:${p.user}@${DOMAIN}`), false);
  });

  test('below registrar.minExpires: 423 with Min-Expires; a binding expires by itself', async () => {
    const p = await phone('udp');
    const brief = await p.register({ expiresHeader: 1 });
    assert.equal(brief.status, 423);
    assert.equal(brief.headers.get('min-expires'), '2');
    assert.equal((await p.register({ expiresHeader: 2 })).status, 200);
    const aor = `sip:${p.user}@${DOMAIN}`;
    assert.ok((await registrations(sbc)).registrations.some((r) => r.aor === aor));
    await waitUntil(async () => !(await registrations(sbc)).registrations.some((r) => r.aor === aor), 4000);
    assert.equal(contactsOf(await p.register({ contact: '' })).length, 0, 'the expired binding is gone from the 200 too');
  });

  test('a REGISTER for a foreign domain gets 403 with a reason, and nothing is stored', async () => {
    const p = await phone('udp');
    const before = await metric(sbc, 'foreign-domain');
    const r = await p.register({ aor: `sip:${p.user}@elsewhere.example`, ruri: 'sip:elsewhere.example' });
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'Domain Not Served Here');
    assert.equal(await metric(sbc, 'foreign-domain'), before + 1);
    assert.equal((await registrations(sbc)).registrations.some((x) => x.aor.startsWith(`sip:${p.user}@`)), false);
  });

  test('instance + reg-id (RFC 5626): the same pair from a new flow replaces the binding', async () => {
    const instance = '"<urn:uuid:00000000-0000-4000-8000-00000000abcd>"';
    const a = await phone('udp', 'olga');
    const b = await phone('tcp', 'olga');
    const r1 = await a.register({ contact: `<${a.contactUri}>;+sip.instance=${instance};reg-id=1`, expiresHeader: 60 });
    assert.equal(r1.status, 200);
    assert.ok(r1.optionTags('supported').includes('outbound'));
    const r2 = await b.register({ contact: `<${b.contactUri}>;+sip.instance=${instance};reg-id=1`, expiresHeader: 60 });
    assert.deepEqual(contactsOf(r2).map((c) => c.uri), [`sip:olga@127.0.0.1:${b.peer.address.port}`], 'one binding, the new flow\'s');
    const api = (await registrations(sbc)).registrations.find((r) => r.aor === `sip:olga@${DOMAIN}`)!;
    assert.equal(api.contacts.length, 1);
    assert.equal(api.contacts[0]!.transport, 'tcp');
    assert.equal(api.contacts[0]!.regId, 1);
    await b.register({ contact: '*', expiresHeader: 0 });
  });

  test('a flood of REGISTERs with ever-new Contacts is bounded per AOR (403) and in total (503), and counted', async () => {
    const p = await phone('udp');
    const aorBefore = await metric(sbc, 'binding-limit-aor');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await p.register({ contact: `<sip:${p.user}-${i}@127.0.0.1:${p.peer.address.port}>`, expiresHeader: 60 })).status);
    assert.deepEqual(statuses, [200, 200, 200, ...Array<number>(9).fill(403)]);
    assert.equal(await metric(sbc, 'binding-limit-aor'), aorBefore + 9);
    const held = (await registrations(sbc)).registrations.find((r) => r.aor === `sip:${p.user}@${DOMAIN}`)!;
    assert.equal(held.contacts.length, 3, 'the AOR keeps its first three bindings');

    // maxBindings 8 on this node: fill up with other AORs until the registrar is full.
    const totalBefore = await metric(sbc, 'binding-limit-total');
    const other = await phone('udp');
    let full: SipResponse | undefined;
    for (let i = 0; i < 10 && full === undefined; i++) {
      const r = await other.register({ aor: `sip:${other.user}${i}@${DOMAIN}`, contact: `<sip:x${i}@127.0.0.1:${other.peer.address.port}>`, expiresHeader: 60 });
      if (r.status !== 200) full = r;
    }
    assert.ok(full !== undefined, 'the total limit was reached');
    assert.equal(full.status, 503);
    assert.equal(full.reason, 'Registrar Full');
    assert.ok(full.headers.get('retry-after') !== undefined);
    assert.equal(await metric(sbc, 'binding-limit-total'), totalBefore + 1);
    assert.ok((await registrations(sbc)).count <= 8);
    // Making room: the flooding phone leaves, the next registration fits.
    await p.register({ contact: '*', expiresHeader: 0 });
    assert.equal((await other.register({ aor: `sip:${other.user}last@${DOMAIN}`, contact: `<sip:last@127.0.0.1:${other.peer.address.port}>`, expiresHeader: 60 })).status, 200);
  });
});

describe('local registrar: digest authentication runs first (security.auth.mode local)', () => {
  let sbc: TestSbc;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-local-auth-'));
    writeFileSync(join(dir, 'users'), 'carol:secret\n');
    sbc = await startSbc({ registrar: { mode: 'local', domains: [DOMAIN] }, security: { auth: { mode: 'local', usersFile: join(dir, 'users'), realm: DOMAIN } } });
  });
  after(async () => {
    await sbc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('REGISTER without credentials → 401; with the right password → 200 from the local registrar; someone else\'s AOR → 403', async () => {
    const p = await udpPhone(sbc, 'carol');
    try {
      const challenged = await p.register({ expiresHeader: 60 });
      assert.equal(challenged.status, 401);
      const parsed = parseDigestChallenge(challenged.headers.get('www-authenticate')!);
      assert.ok(parsed.ok);
      const c = parsed.value;
      const creds = (uri: string, n: number): string => {
        const user = 'carol';
        const nc = n.toString(16).padStart(8, '0');
        const cnonce = rand(4);
        const ha1 = computeHa1('MD5', user, c.realm, 'secret');
        const resp = computeResponse({ algorithm: 'MD5', ha1, method: 'REGISTER', uri, nonce: c.nonce, qop: 'auth', nc, cnonce });
        return `Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", response="${resp}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=${nc}${c.opaque !== undefined ? `, opaque="${c.opaque}"` : ''}`;
      };
      const ok = await p.register({ expiresHeader: 60, headers: [`Authorization: ${creds(`sip:${DOMAIN}`, 1)}`] });
      assert.equal(ok.status, 200);
      assert.equal(contactsOf(ok).length, 1);
      assert.ok((await registrations(sbc)).registrations.some((r) => r.aor === `sip:carol@${DOMAIN}`));
      const other = await p.register({ aor: `sip:dave@${DOMAIN}`, expiresHeader: 60, headers: [`Authorization: ${creds(`sip:${DOMAIN}`, 2)}`] });
      assert.equal(other.status, 403);
    } finally {
      p.peer.close();
    }
  });
});

describe('local registrar: calls to registered users', () => {
  let sbc: TestSbc;
  const peers: SipPeer[] = [];
  let sbcUdp: { address: string; port: number };
  const phone = async (kind: 'udp' | 'tcp', user: string): Promise<Phone> => {
    const p = kind === 'udp' ? await udpPhone(sbc, user) : await tcpPhone(sbc, user);
    peers.push(p.peer);
    return p;
  };

  before(async () => {
    sbc = await startSbc({ registrar: { mode: 'local', domains: [DOMAIN] }, timers: { t1Ms: 50 } });
    sbcUdp = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
  });
  after(async () => {
    for (const p of peers) p.close();
    await sbc.stop();
  });

  const invite = (caller: SipPeer, callee: string, callId = `call-${rand(6)}`): string => request({
    method: 'INVITE', uri: `sip:${callee}@${DOMAIN}`, sentBy: `127.0.0.1:${caller.address.port}`,
    from: `<sip:alice@${DOMAIN}>`, to: `<sip:${callee}@${DOMAIN}>`, callId, contact: `<sip:alice@127.0.0.1:${caller.address.port}>`,
    body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n',
  });
  const isInvite = (r: Received): boolean => r.msg.kind === 'request' && r.msg.method === 'INVITE';

  test('an unregistered user → 404; a user whose only flow is gone → 430', async () => {
    const alice = await SipPeer.udp();
    peers.push(alice);
    alice.send(invite(alice, 'nobody'), sbcUdp);
    const notFound = (await alice.nextResponse((s) => s >= 200)).msg as SipResponse;
    assert.equal(notFound.status, 404);

    const gone = await phone('tcp', 'gina');
    assert.equal((await gone.register({ expiresHeader: 60 })).status, 200);
    gone.peer.close();
    await waitUntil(async () => (await registrations(sbc)).registrations.find((r) => r.aor === `sip:gina@${DOMAIN}`)?.contacts[0]?.flowUp === false);
    // The 404 above is retransmitted until ACKed (alice never ACKs it): wait for the answer to this INVITE.
    const callId = `call-${rand(6)}`;
    alice.send(invite(alice, 'gina', callId), sbcUdp);
    const failed = await alice.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200);
    assert.equal((failed.msg as SipResponse).status, 430);
  });

  test('two contacts of one AOR (UDP and TCP) both ring; the first 2xx wins, the other gets CANCEL; ACK and BYE follow the Record-Route both ways', async () => {
    const b1 = await phone('udp', 'bob');
    const b2 = await phone('tcp', 'bob');
    assert.equal((await b1.register({ expiresHeader: 60 })).status, 200);
    assert.equal(contactsOf(await b2.register({ expiresHeader: 60 })).length, 2);
    const alice = await SipPeer.udp();
    peers.push(alice);

    alice.send(invite(alice, 'bob'), sbcUdp);
    const [i1, i2] = await Promise.all([b1.peer.next(isInvite), b2.peer.next(isInvite)]);
    const inv1 = i1.msg as SipRequest;
    const inv2 = i2.msg as SipRequest;
    assert.equal(inv1.uri, b1.contactUri, 'the Request-URI is the registered Contact');
    assert.equal(inv2.uri, b2.contactUri);
    assert.ok(inv1.headers.values('record-route').length >= 1, 'the SBC record-routes');
    b1.send(response(inv1, 180, 'Ringing', { toTag: 'b1' }));
    b2.send(response(inv2, 180, 'Ringing', { toTag: 'b2' }));
    await alice.nextResponse(180);
    b1.send(response(inv1, 200, 'OK', { toTag: 'b1', headers: [`Contact: <${b1.contactUri}>`], body: 'v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n' }));

    const cancel = await b2.peer.nextRequest('CANCEL');
    b2.send(response(cancel.msg as SipRequest, 200, 'OK'));
    b2.send(response(inv2, 487, 'Request Terminated', { toTag: 'b2' }));
    await b2.peer.nextRequest('ACK'); // the SBC acknowledges the 487 itself (hop by hop)

    const ok = (await alice.nextResponse(200, 'INVITE')).msg as SipResponse;
    assert.equal(ok.headers.get('to')?.includes('tag=b1'), true, 'the answer that won is b1\'s');
    assert.equal(alice.count((r) => r.msg.kind === 'response' && r.msg.status === 487), 0, 'the caller never sees the cancelled branch');

    // ACK (end to end) and BYE from the callee, routed by the flow tokens in our Record-Route.
    const routes = uacRouteSet(ok);
    alice.send(request({ method: 'ACK', uri: b1.contactUri, sentBy: `127.0.0.1:${alice.address.port}`, from: `<sip:alice@${DOMAIN}>`, fromTag: ok.from()!.params.get('tag')!, to: `<sip:bob@${DOMAIN}>`, toTag: 'b1', callId: ok.callId!, headers: routes.map((r) => `Route: ${r}`) }), sbcUdp);
    await b1.peer.nextRequest('ACK');
    b1.send(request({ method: 'BYE', uri: `sip:alice@127.0.0.1:${alice.address.port}`, sentBy: `127.0.0.1:${b1.peer.address.port}`, from: `<sip:bob@${DOMAIN}>`, fromTag: 'b1', to: `<sip:alice@${DOMAIN}>`, toTag: ok.from()!.params.get('tag')!, callId: ok.callId!, cseq: 1, headers: uasRouteSet(inv1).map((r) => `Route: ${r}`) }));
    const bye = await alice.nextRequest('BYE');
    alice.send(response(bye.msg as SipRequest, 200, 'OK'), sbcUdp);
    await b1.peer.nextResponse(200, 'BYE');
  });

  test('a 6xx from one contact ends the fork: the caller gets it, the other contact is cancelled', async () => {
    const c1 = await phone('udp', 'carl');
    const c2 = await phone('udp', 'carl');
    await c1.register({ expiresHeader: 60 });
    await c2.register({ expiresHeader: 60 });
    const alice = await SipPeer.udp();
    peers.push(alice);
    alice.send(invite(alice, 'carl'), sbcUdp);
    const [i1, i2] = await Promise.all([c1.peer.next(isInvite), c2.peer.next(isInvite)]);
    c2.send(response(i2.msg as SipRequest, 180, 'Ringing', { toTag: 'c2' }));
    await alice.nextResponse(180);
    c1.send(response(i1.msg as SipRequest, 603, 'Decline', { toTag: 'c1' }));
    const cancel = await c2.peer.nextRequest('CANCEL');
    c2.send(response(cancel.msg as SipRequest, 200, 'OK'));
    c2.send(response(i2.msg as SipRequest, 487, 'Request Terminated', { toTag: 'c2' }));
    const final = (await alice.nextResponse((s) => s >= 300)).msg as SipResponse;
    assert.equal(final.status, 603);
  });

  test('every contact fails: the best final response goes back (RFC 3261 §16.7 step 6: 486 over 503)', async () => {
    const d1 = await phone('udp', 'dora');
    const d2 = await phone('tcp', 'dora');
    await d1.register({ expiresHeader: 60 });
    await d2.register({ expiresHeader: 60 });
    const alice = await SipPeer.udp();
    peers.push(alice);
    alice.send(invite(alice, 'dora'), sbcUdp);
    const [i1, i2] = await Promise.all([d1.peer.next(isInvite), d2.peer.next(isInvite)]);
    d1.send(response(i1.msg as SipRequest, 503, 'Service Unavailable', { toTag: 'd1' }));
    d2.send(response(i2.msg as SipRequest, 486, 'Busy Here', { toTag: 'd2' }));
    const final = (await alice.nextResponse((s) => s >= 300)).msg as SipResponse;
    assert.equal(final.status, 486);
  });
});
