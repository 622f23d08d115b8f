import assert from 'node:assert/strict';
import { test } from 'node:test';
import { USER_AGENT_INSPECTED_CHARS, UserAgentBlocklist } from '../../../src/security/scanner-block.js';

const DEFAULTS = ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sundayddr', 'iwar', 'sivus', 'smap', 'sipsak'];

test('a pattern matches anywhere in the User-Agent, ignoring case', () => {
  const list = new UserAgentBlocklist(DEFAULTS);
  for (const ua of ['friendly-scanner', 'Friendly-Scanner', 'FRIENDLY-SCANNER 1.0', 'sipsak 0.9.8.1', 'SIPVicious/0.3.3', 'x sipcli/v1.8', 'pplsip (SIP-SCAN)']) {
    assert.equal(list.matches(ua), true, ua);
  }
});

test('ordinary phones and browsers pass', () => {
  const list = new UserAgentBlocklist(DEFAULTS);
  for (const ua of ['SIP.js/0.21.2', 'baresip v1.0.0 (x86_64/linux)', 'Linphone/5.2.0 (belle-sip/5.2.0)', 'Yealink SIP-T46S 66.86.0.15', 'friendly scanner', 'sips', '']) {
    assert.equal(list.matches(ua), false, ua);
  }
});

test('configured patterns are lower-cased once; empty ones are ignored', () => {
  const list = new UserAgentBlocklist(['EvilDialer', '']);
  assert.equal(list.isEmpty, false);
  assert.equal(list.matches('the evildialer/2'), true);
  assert.equal(list.matches('anything'), false);
  assert.equal(new UserAgentBlocklist([]).isEmpty, true);
  assert.equal(new UserAgentBlocklist(['']).isEmpty, true);
});

test('patterns are literal text, not expressions', () => {
  const list = new UserAgentBlocklist(['sip.scan', 'bot(v2)', 'a|b', '.*']);
  assert.equal(list.matches('SIPxSCAN'), false);
  assert.equal(list.matches('my SIP.scan'), true);
  assert.equal(list.matches('Bot(V2)/1'), true);
  assert.equal(list.matches('a'), false);
  assert.equal(list.matches('x A|B y'), true);
  assert.equal(list.matches('anything'), false);
  assert.equal(list.matches('.*'), true);
});

test('patterns beyond ASCII match case-insensitively too', () => {
  const list = new UserAgentBlocklist(['Schädling']);
  assert.equal(list.matches('SCHÄDLING/1.0'), true);
  assert.equal(list.matches('Schadling/1.0'), false);
});

test('only the start of a huge User-Agent is inspected', () => {
  const list = new UserAgentBlocklist(DEFAULTS);
  const pad = 'a'.repeat(USER_AGENT_INSPECTED_CHARS - 'sipvicious'.length);
  assert.equal(list.matches(`${pad}sipvicious`), true, 'a pattern ending at the limit is found');
  assert.equal(list.matches(`${pad}xsipvicious`), false, 'a pattern past the limit is not');
});
