import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuthDenial, Authenticator } from '../../../src/core/request-checks.js';
import type { SipRequest } from '../../../src/sip/message.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { TokenUserBinding } from '../../../src/security/token-user-binding.js';
import type { Flow } from '../../../src/transport/flow.js';

function req(method: string, from: string, to: string): SipRequest {
  const text = [
    `${method} sip:${method === 'REGISTER' ? 'example.com' : 'carol@example.com'} SIP/2.0`,
    'Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1',
    'Max-Forwards: 70',
    `From: <${from}>;tag=1`,
    `To: <${to}>`,
    'Call-ID: c1',
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text));
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value;
}

const flow = (boundUser?: string): Flow => ({ boundUser }) as unknown as Flow;

class RecordingDigest implements Authenticator {
  calls = 0;
  check(): AuthDenial | undefined {
    this.calls += 1;
    return { status: 407, phrase: 'Proxy Authentication Required' };
  }
}

describe('TokenUserBinding', () => {
  it('lets the token user register their own AOR and call, with no digest challenge', () => {
    const digest = new RecordingDigest();
    const b = new TokenUserBinding(digest);
    assert.equal(b.check(req('REGISTER', 'sip:alice@example.com', 'sip:alice@example.com'), flow('alice')), undefined);
    assert.equal(b.check(req('INVITE', 'sip:alice@example.com', 'sip:carol@example.com'), flow('alice')), undefined);
    assert.equal(digest.calls, 0);
  });

  it('refuses a REGISTER for another AOR and a request From another user with 403', () => {
    const b = new TokenUserBinding(undefined);
    assert.equal(b.check(req('REGISTER', 'sip:alice@example.com', 'sip:bob@example.com'), flow('alice'))?.status, 403);
    assert.equal(b.check(req('REGISTER', 'sip:bob@example.com', 'sip:bob@example.com'), flow('alice'))?.status, 403);
    const denied = b.check(req('INVITE', 'sip:bob@example.com', 'sip:carol@example.com'), flow('alice'));
    assert.equal(denied?.status, 403);
    assert.equal(denied?.reason, 'token-user-mismatch');
    assert.equal(b.check(req('MESSAGE', 'sip:Alice@example.com', 'sip:carol@example.com'), flow('alice'))?.status, 403, 'user parts compare case-sensitively');
  });

  it('binds the domain too when the claim is user@host', () => {
    const b = new TokenUserBinding(undefined);
    assert.equal(b.check(req('INVITE', 'sip:alice@Example.COM', 'sip:carol@example.com'), flow('alice@example.com')), undefined);
    assert.equal(b.check(req('INVITE', 'sip:alice@other.example', 'sip:carol@example.com'), flow('alice@example.com'))?.status, 403);
  });

  it('leaves ACK and CANCEL alone', () => {
    const b = new TokenUserBinding(undefined);
    assert.equal(b.check(req('CANCEL', 'sip:bob@example.com', 'sip:carol@example.com'), flow('alice')), undefined);
  });

  it('hands flows without a token user to digest authentication, or lets them through without one', () => {
    const digest = new RecordingDigest();
    assert.equal(new TokenUserBinding(digest).check(req('INVITE', 'sip:bob@example.com', 'sip:carol@example.com'), flow())?.status, 407);
    assert.equal(digest.calls, 1);
    assert.equal(new TokenUserBinding(undefined).check(req('INVITE', 'sip:bob@example.com', 'sip:carol@example.com'), flow()), undefined);
  });
});
