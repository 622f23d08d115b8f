/**
 * Operator routing over real SIP on loopback: three backend groups of
 * scripted UASes (default, carrier with two targets, emergency), a phone
 * outside; each test asserts which UAS an INVITE reached and with which
 * Request-URI, for the `routes:` rules, for a routing script, and both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSbc, type TestSbc } from '../../helpers/sbc.js';
import { SipPeer } from '../../helpers/sip-peer.js';
import { group, Phone, scriptDir, Uas } from './harness.js';

interface Bed {
  uas: Record<'d1' | 'c1' | 'c2' | 'e1', Uas>;
  all: Uas[];
}

async function bed(): Promise<Bed> {
  const [d1, c1, c2, e1] = await Promise.all([Uas.start('d1'), Uas.start('c1'), Uas.start('c2'), Uas.start('e1')]);
  c1!.mode = 'unavailable'; // the carrier's first target refuses: calls fail over to the second
  return { uas: { d1: d1!, c1: c1!, c2: c2!, e1: e1! }, all: [d1!, c1!, c2!, e1!] };
}

function backends(b: Bed): Record<string, unknown> {
  return { default: group(b.uas.d1), carrier: group(b.uas.c1, b.uas.c2), emergency: group(b.uas.e1) };
}

async function metric(sbc: TestSbc, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${sbc.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => pattern.test(l));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('routes: rules', () => {
  let b: Bed;
  let sbc: TestSbc;
  let phone: Phone;
  before(async () => {
    b = await bed();
    sbc = await startSbc({
      backends: backends(b),
      routes: [
        { match: { fromUser: { prefix: 'spam' } }, action: { reply: { status: 403, reason: 'Caller Blocked' } } },
        { match: { ruriUser: { regex: '^(911|112)$' } }, action: { group: 'emergency' } },
        { match: { ruriUser: { prefix: '00' } }, action: { strip: 2, prefix: '+', group: 'carrier' } },
        { match: { ruriUser: { prefix: '0' } }, action: { strip: 1, prefix: '+49', group: 'carrier' } },
        { match: { domain: 'closed.example', source: ['127.0.0.0/8'] }, action: { reply: { status: 480, reason: 'Closed' } } },
        { domain: 'tenant-e.example', backend: 'emergency' },
      ],
    });
    phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, b.all);
  });
  after(async () => {
    phone.peer.close();
    for (const u of b.all) u.peer.close();
    await sbc.stop();
  });

  test('R-URI user prefix 00: stripped, + prefixed, to the carrier; its first target answers 503 and the second gets it', async () => {
    const r = await phone.call({ uri: 'sip:0049301234567@example.com' });
    assert.deepEqual(r.tried, ['c1', 'c2']);
    assert.equal(r.ruri, 'sip:+49301234567@example.com');
    assert.equal(r.status, 486);
  });

  test('national number (prefix 0, after the 00 rule): +49 in front', async () => {
    const r = await phone.call({ uri: 'sip:030123@example.com' });
    assert.equal(r.reached, 'c2');
    assert.equal(r.ruri, 'sip:+4930123@example.com');
  });

  test('regular expression: 911 and 112 go to the emergency group with the Request-URI untouched', async () => {
    for (const n of ['911', '112']) {
      const r = await phone.call({ uri: `sip:${n}@example.com` });
      assert.equal(r.reached, 'e1', n);
      assert.equal(r.ruri, `sip:${n}@example.com`);
    }
    const not = await phone.call({ uri: 'sip:9110@example.com' });
    assert.equal(not.reached, 'd1', 'the regular expression is anchored: 9110 matches no rule');
    assert.equal(not.ruri, 'sip:9110@example.com');
  });

  test('From user: a blocked caller gets the rule\'s reply and nothing reaches a backend', async () => {
    const r = await phone.call({ uri: 'sip:bob@example.com', from: '<sip:spammer@bad.example>' });
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'Caller Blocked');
    assert.deepEqual(r.tried, []);
  });

  test('domain and source CIDR together: the reply; the same domain from elsewhere would not match', async () => {
    const r = await phone.call({ uri: 'sip:bob@closed.example' });
    assert.equal(r.status, 480);
    assert.deepEqual(r.tried, []);
  });

  test('the domain form still routes by Request-URI host; no match goes to group default', async () => {
    const t = await phone.call({ uri: 'sip:bob@tenant-e.example' });
    assert.equal(t.reached, 'e1');
    const d = await phone.call({ uri: 'sip:bob@example.com' });
    assert.equal(d.reached, 'd1');
    assert.equal(d.ruri, 'sip:bob@example.com');
  });

  test('decisions are counted per source, outcome and group', async () => {
    assert.ok(await metric(sbc, /^sbc_routing_decisions_total\{.*source="rules".*outcome="relay".*group="carrier"/) >= 2);
    assert.ok(await metric(sbc, /^sbc_routing_decisions_total\{.*source="rules".*outcome="reply".*status="403"/) >= 1);
  });
});

describe('routing.script', () => {
  let b: Bed;
  let sbc: TestSbc;
  let phone: Phone;
  const dir = scriptDir();
  let scriptPath = '';
  before(async () => {
    b = await bed();
    scriptPath = dir.write('route.mjs', `
      export default async function route(request) {
        const user = request.ruri.user ?? '';
        if (request.header('X-Test') === 'throw') throw new Error('script bug');
        if (request.header('X-Test') === 'hang') return new Promise(() => {});
        if (request.header('X-Test') === 'invalid') return { relay: { group: 'carrier', setHeaders: { Via: 'SIP/2.0/UDP evil' } } };
        if (request.header('X-Test') === 'no-group') return { relay: { group: 'nowhere' } };
        if (request.header('X-Test') === 'view') return { relay: { group: 'emergency', setHeaders: { 'X-View': JSON.stringify({ m: request.method, ruri: request.ruri, from: request.from, to: request.to, src: request.source.transport, inside: request.fromInside, tenant: request.tenant, callId: request.callId.length > 0, frozen: Object.isFrozen(request) }) } } };
        if (user.startsWith('+')) return { relay: { group: 'carrier', ruriUser: user.replace(/^\\+/, '00') } };
        if (user === 'voicemail') return { relay: { uri: 'sip:vm-box@127.0.0.1:${'${VM_PORT}'};transport=udp' } };
        if (user === 'rewrite-host') return { relay: { ruriHost: 'tenant-e.example' } };
        if (user === 'headers') return { relay: { setHeaders: { 'X-Routed-By': 'script' }, removeHeaders: ['X-Secret'] } };
        if (user === 'busy') return { reply: { status: 486, reason: 'Script Says Busy' } };
        if (request.fromInside) return { relay: { setHeaders: { 'X-Inside-Secret': '10.1.2.3', 'Call-Info': '<http://example.com/info>' } } };
        if (request.method === 'REGISTER') return request.from.user === 'blocked' ? { reply: { status: 403, reason: 'No Registration' } } : { relay: { group: 'emergency', setHeaders: { 'X-Registrar': 'chosen' } } };
        if (user === 'slow') { await new Promise((r) => setTimeout(r, 30)); return { relay: { group: 'emergency' } }; }
        return undefined;
      }
    `.replace('${VM_PORT}', String(b.uas.e1.peer.address.port)));
    sbc = await startSbc({
      backends: backends(b),
      routes: [
        { match: { ruriUser: { prefix: '0' } }, action: { strip: 1, prefix: '+49' } },
        { domain: 'tenant-e.example', backend: 'emergency' },
      ],
      routing: { script: scriptPath, timeoutMs: 300 },
    });
    phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, b.all);
  });
  after(async () => {
    phone.peer.close();
    for (const u of b.all) u.peer.close();
    await sbc.stop();
    dir.remove();
  });

  test('the request object: fields as documented, read-only', async () => {
    const r = await phone.call({ uri: 'sip:bob@tenant-e.example:5060;user=phone', from: '"Alice A" <sip:alice@a.example>', headers: ['X-Test: view'] });
    assert.equal(r.reached, 'e1');
    const view = JSON.parse(r.invite!.headers.get('x-view')!) as Record<string, unknown>;
    assert.deepEqual(view, {
      m: 'INVITE',
      ruri: { user: 'bob', host: 'tenant-e.example', port: 5060, params: { user: 'phone' } },
      from: { user: 'alice', host: 'a.example', displayName: 'Alice A' },
      to: { user: 'bob', host: 'example.com' },
      src: 'udp',
      inside: false,
      tenant: 'tenant-e.example',
      callId: true,
      frozen: true,
    });
  });

  test('relay to a group with the user rewritten; rules ran first (0 → +49) and the script saw their result', async () => {
    const r = await phone.call({ uri: 'sip:030999@example.com' });
    assert.deepEqual(r.tried, ['c1', 'c2']);
    assert.equal(r.ruri, 'sip:004930999@example.com');
  });

  test('relay to an explicit URI: the Request-URI becomes it and the request goes there', async () => {
    const r = await phone.call({ uri: 'sip:voicemail@example.com' });
    assert.equal(r.reached, 'e1');
    assert.equal(r.ruri, `sip:vm-box@127.0.0.1:${b.uas.e1.peer.address.port};transport=udp`);
  });

  test('Request-URI host rewrite: the usual domain routing follows the new host', async () => {
    const r = await phone.call({ uri: 'sip:rewrite-host@example.com' });
    assert.equal(r.reached, 'e1');
    assert.equal(r.ruri, 'sip:rewrite-host@tenant-e.example');
  });

  test('headers set and removed arrive so at the backend', async () => {
    const r = await phone.call({ uri: 'sip:headers@example.com', headers: ['X-Secret: 42', 'X-Keep: yes'] });
    assert.equal(r.reached, 'd1');
    assert.equal(r.invite!.headers.get('x-routed-by'), 'script');
    assert.equal(r.invite!.headers.get('x-secret'), undefined);
    assert.equal(r.invite!.headers.get('x-keep'), 'yes');
  });

  test('reply: the script\'s status and reason; an async decision in time is applied', async () => {
    const busy = await phone.call({ uri: 'sip:busy@example.com' });
    assert.equal(busy.status, 486);
    assert.equal(busy.reason, 'Script Says Busy');
    assert.deepEqual(busy.tried, []);
    const slow = await phone.call({ uri: 'sip:slow@example.com' });
    assert.equal(slow.reached, 'e1');
  });

  test('REGISTER goes through the script too: a group for the registrar, or a reply', async () => {
    const { request } = await import('../../helpers/sip-peer.js');
    const sbcAt = { address: '127.0.0.1', port: sbc.listener('udp').boundPort };
    const reg = (from: string): string => request({ method: 'REGISTER', uri: 'sip:example.com', sentBy: `127.0.0.1:${phone.peer.address.port}`, from: `<sip:${from}@example.com>`, to: `<sip:${from}@example.com>`, contact: `<sip:${from}@127.0.0.1:${phone.peer.address.port}>`, headers: ['Expires: 60'] });
    phone.peer.send(reg('carol'), sbcAt);
    const ok = await phone.peer.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.method === 'REGISTER' && r.msg.status >= 200);
    assert.equal(ok.msg.kind === 'response' && ok.msg.status, 200);
    const seen = await b.uas.e1.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'REGISTER');
    assert.equal(seen.msg.headers.get('x-registrar'), 'chosen');
    phone.peer.send(reg('blocked'), sbcAt);
    const no = await phone.peer.next((r) => r.msg.kind === 'response' && r.msg.cseq()?.method === 'REGISTER' && r.msg.status >= 200);
    assert.equal(no.msg.kind === 'response' && no.msg.status, 403);
  });

  test('a request from inside: the script sees fromInside, and the headers it adds pass topology hiding like any other', async () => {
    const { request } = await import('../../helpers/sip-peer.js');
    const callId = `inside-${Date.now()}`;
    const backend = b.uas.d1.peer;
    backend.send(request({
      method: 'INVITE', uri: `sip:phone@127.0.0.1:${phone.peer.address.port}`, sentBy: `127.0.0.1:${backend.address.port}`, callId,
      from: '<sip:pbx@inside.example>', to: `<sip:phone@127.0.0.1:${phone.peer.address.port}>`, contact: `<sip:pbx@127.0.0.1:${backend.address.port}>`,
    }), { address: '127.0.0.1', port: sbc.listener('udp').boundPort });
    const inv = await phone.peer.next((r) => r.msg.kind === 'request' && r.msg.method === 'INVITE' && r.msg.callId === callId);
    assert.equal(inv.msg.headers.get('call-info'), '<http://example.com/info>', 'a plain header the script set arrives');
    assert.equal(inv.msg.headers.get('x-inside-secret'), undefined, 'X-* from inside is stripped on the way out (topologyHiding.stripHeaders), set by a script or not');
  });

  test('undefined: the usual routing', async () => {
    const r = await phone.call({ uri: 'sip:bob@example.com' });
    assert.equal(r.reached, 'd1');
  });

  test('a throwing script, a hanging one and an invalid decision answer 500; nothing reaches a backend', async () => {
    for (const kind of ['throw', 'hang', 'invalid', 'no-group']) {
      const r = await phone.call({ uri: 'sip:bob@example.com', headers: [`X-Test: ${kind}`] });
      assert.equal(r.status, 500, kind);
      assert.deepEqual(r.tried, [], kind);
    }
    assert.ok(await metric(sbc, /^sbc_routing_decisions_total\{.*source="script".*outcome="error"/) >= 1);
    assert.ok(await metric(sbc, /^sbc_routing_decisions_total\{.*source="script".*outcome="timeout"/) >= 1);
    assert.ok(await metric(sbc, /^sbc_routing_decisions_total\{.*source="script".*outcome="invalid"/) >= 2);
  });

  test('CANCEL while the script is deciding: 200 for the CANCEL, 487 for the INVITE, and the late decision is dropped', async () => {
    const { callId, text } = phone.invite({ uri: 'sip:bob@example.com', headers: ['X-Test: hang'] });
    phone.send(text);
    await phone.peer.nextResponse(100, 'INVITE').catch(() => undefined);
    const inv = (await import('../../../src/sip/parser.js')).parseMessage(Buffer.from(text));
    assert.ok(inv.ok && inv.value.kind === 'request');
    const via = inv.value.headers.get('via')!;
    const cancel = [
      `CANCEL ${inv.value.uri} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${inv.value.headers.get('from')!}`, `To: ${inv.value.headers.get('to')!}`,
      `Call-ID: ${callId}`, 'CSeq: 1 CANCEL', 'Content-Length: 0', '', '',
    ].join('\r\n');
    phone.send(cancel);
    const ok = await phone.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'CANCEL');
    assert.equal(ok.msg.kind === 'response' && ok.msg.status, 200);
    const final = await phone.peer.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'INVITE' && r.msg.status >= 200);
    assert.equal(final.msg.kind === 'response' && final.msg.status, 487);
    await new Promise((r) => setTimeout(r, 400)); // past routing.timeoutMs
    assert.equal(phone.peer.count((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.cseq()?.method === 'INVITE' && r.msg.status >= 200), 1, 'one final response only');
  });
});

describe('routing.isolation: worker', () => {
  let b: Bed;
  let sbc: TestSbc;
  let phone: Phone;
  const dir = scriptDir();
  before(async () => {
    b = await bed();
    const file = dir.write('route.mjs', `
      export default function route(request) {
        const user = request.ruri.user ?? '';
        if (user === 'loop') for (;;) {}
        if (user === 'exit') process.exit(3);
        if (user === 'throw') throw new Error('script bug');
        if (user === 'fn') return { relay: { group: 'emergency', setHeaders: { 'X-F': () => 1 } } };
        if (user.startsWith('00')) return { relay: { group: 'emergency', ruriUser: '+' + user.slice(2), setHeaders: { 'X-Seen': request.header('x-mark') ?? '' + ':' + request.headers('X-Two').join('|') } } };
        return undefined;
      }
    `);
    sbc = await startSbc({ backends: backends(b), routing: { script: file, timeoutMs: 300, isolation: 'worker' } });
    phone = new Phone(await SipPeer.udp(), sbc.listener('udp').boundPort, b.all);
  });
  after(async () => {
    phone.peer.close();
    for (const u of b.all) u.peer.close();
    await sbc.stop();
    dir.remove();
  });

  test('decisions come back from the script thread, with the request view rebuilt there', async () => {
    const r = await phone.call({ uri: 'sip:00123@example.com', callId: 'worker-call-1' });
    assert.equal(r.reached, 'e1');
    assert.equal(r.ruri, 'sip:+123@example.com');
    assert.equal(r.invite!.headers.get('x-seen'), 'worker-call-1');
    assert.equal((await phone.call({ uri: 'sip:bob@example.com' })).reached, 'd1');
  });

  test('a script that never yields, or exits, answers 500 and the gateway goes on with a fresh thread', async () => {
    for (const kind of ['loop', 'exit', 'throw', 'fn']) {
      const r = await phone.call({ uri: `sip:${kind}@example.com` });
      assert.equal(r.status, 500, kind);
      assert.deepEqual(r.tried, [], kind);
      const next = await phone.call({ uri: 'sip:0049@example.com' });
      assert.equal(next.reached, 'e1', `after ${kind}: the next call is routed by the script again`);
    }
  });
});
