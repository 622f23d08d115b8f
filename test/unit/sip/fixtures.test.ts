import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatUri } from '../../../src/sip/uri.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { serialize } from '../../../src/sip/serializer.js';
import type { SipMessage } from '../../../src/sip/message.js';
import { fixturesDir } from '../../helpers/paths.js';

/**
 * Golden fixtures in the spirit of RFC 4475: NAME.sip holds the raw bytes,
 * NAME.expected.json what a parse must yield. Every key in the JSON is checked;
 * an unknown key fails so an expectation can't be silently ignored.
 */
const dir = join(fixturesDir, 'sip');
const names = readdirSync(dir).filter((f) => f.endsWith('.sip')).map((f) => f.slice(0, -4)).sort();

type Expected = Record<string, unknown>;

function check(msg: SipMessage, key: string, want: unknown): void {
  switch (key) {
    case 'kind': return assert.equal(msg.kind, want);
    case 'method': return assert.equal(msg.kind === 'request' ? msg.method : undefined, want);
    case 'uri': return assert.equal(msg.kind === 'request' ? msg.uri : undefined, want);
    case 'status': return assert.equal(msg.kind === 'response' ? msg.status : undefined, want);
    case 'reason': return assert.equal(msg.kind === 'response' ? msg.reason : undefined, want);
    case 'requestUri': {
      assert.equal(msg.kind, 'request');
      const u = msg.kind === 'request' ? msg.requestUri() : undefined;
      assert.ok(u, 'Request-URI parses');
      const w = want as Record<string, unknown>;
      for (const [k, v] of Object.entries(w)) {
        if (k === 'transport') assert.equal(u.params.get('transport'), v);
        else assert.equal((u as unknown as Record<string, unknown>)[k] ?? null, v, `requestUri.${k}`);
      }
      return;
    }
    case 'topVia': {
      const v = msg.topVia();
      assert.ok(v, 'top Via parses');
      assert.deepEqual({ transport: v.transport, host: v.host, port: v.port ?? null, branch: v.params.get('branch') }, want);
      return;
    }
    case 'topViaRport': return assert.equal(msg.topVia()?.params.get('rport'), want);
    case 'viaCount': return assert.equal(msg.vias()?.length, want);
    case 'fromTag': return assert.equal(msg.from()?.params.get('tag') ?? null, want);
    case 'toTag': return assert.equal(msg.to()?.params.get('tag') ?? null, want);
    case 'fromDisplay': return assert.equal(msg.from()?.display, want);
    case 'toDisplay': return assert.equal(msg.to()?.display, want);
    case 'fromUser': return assert.equal(msg.from()?.uri.user, want);
    case 'toUser': return assert.equal(msg.to()?.uri.user, want);
    case 'callId': return assert.equal(msg.callId, want);
    case 'cseq': return assert.deepEqual(msg.cseq(), want);
    case 'maxForwards': return assert.equal(msg.maxForwards() ?? null, want);
    case 'routeCount': return assert.equal(msg.routes()?.length, want);
    case 'routes': return assert.deepEqual(msg.routes()?.map((r) => formatUri(r.uri)), want);
    case 'recordRouteCount': return assert.equal(msg.recordRoutes()?.length, want);
    case 'contacts': {
      const c = msg.contacts();
      return assert.deepEqual(c === '*' ? '*' : c?.map((x) => formatUri(x.uri)), want);
    }
    case 'contactParams': {
      const c = msg.contacts();
      assert.ok(Array.isArray(c) && c[0], 'first Contact parses');
      assert.deepEqual(Object.fromEntries(c[0].params), want);
      return;
    }
    case 'optionTags': return assert.deepEqual(msg.optionTags('supported'), want);
    case 'contentType': return assert.equal(msg.contentType, want);
    case 'headers':
      for (const [name, value] of Object.entries(want as Record<string, string>)) assert.equal(msg.headers.get(name), value, name);
      return;
    case 'rawNames': return assert.deepEqual(msg.headers.fields.map((f) => f.rawName), want);
    case 'bodyLength': return assert.equal(msg.body.length, want);
    case 'body': return assert.equal(msg.body.toString('utf8'), want);
    case 'bodyIncludes':
      for (const s of want as string[]) assert.ok(msg.body.toString('utf8').includes(s), `body includes ${s}`);
      return;
    default: assert.fail(`unknown expectation key ${key}`);
  }
}

test('there are at least 25 golden fixtures', () => {
  assert.ok(names.length >= 25, `found ${names.length}`);
});

for (const name of names) {
  test(`fixture ${name}`, () => {
    const raw = readFileSync(join(dir, `${name}.sip`));
    const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected;
    const r = parseMessage(raw);
    if ('error' in expected) {
      assert.equal(r.ok, false, 'parse must fail');
      if (r.ok) return;
      assert.equal(r.error.code, expected['error']);
      if ('status' in expected) assert.equal(r.error.status, expected['status']);
      if ('partialCallId' in expected) assert.equal(r.error.partial?.callId, expected['partialCallId']);
      for (const k of Object.keys(expected)) assert.ok(['error', 'status', 'partialCallId'].includes(k), `unknown key ${k}`);
      return;
    }
    assert.ok(r.ok, r.ok ? '' : `parse failed: ${r.error.code} ${r.error.reason}`);
    for (const [key, want] of Object.entries(expected)) check(r.value, key, want);

    // What we send on must parse to the same message.
    const again = parseMessage(serialize(r.value));
    assert.ok(again.ok, 'serialized message parses');
    for (const [key, want] of Object.entries(expected)) check(again.value, key, want);
  });
}
