import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EstablishedCalls } from '../../../src/core/established-calls.js';

describe('EstablishedCalls', () => {
  it('counts a call from its 2xx to its BYE, once per Call-ID', () => {
    const c = new EstablishedCalls();
    c.confirmed('a');
    c.confirmed('a'); // a second fork's 2xx
    c.confirmed('b');
    assert.equal(c.size, 2);
    c.ended('a');
    c.ended('nope');
    assert.equal(c.size, 1);
  });

  it('forgets calls whose BYE it never saw, by age and by number', () => {
    let now = 0;
    const c = new EstablishedCalls({ maxCallSeconds: 10, maxTracked: 2, now: () => now });
    c.confirmed('a');
    now = 5000;
    c.confirmed('b');
    c.confirmed('c');
    assert.equal(c.size, 2, 'the oldest made room');
    now = 16_000;
    assert.equal(c.size, 0);
  });

  it('the ended hook hears every established call that ends, and every call ended with a reason (call records)', () => {
    const c = new EstablishedCalls();
    const heard: string[] = [];
    const off = c.onDialogEnded((callId, reason) => heard.push(`${callId}:${reason}`));
    c.confirmed('a');
    c.ended('a');
    c.ended('never-up'); // a failed INVITE: not a call that ended
    c.confirmed('b');
    c.ended('b', { by: 'sbc', reason: 'client-gone' });
    c.ended('b2bua-call', { by: 'sbc', reason: 'client-gone' });
    off();
    c.confirmed('d');
    c.ended('d');
    assert.deepEqual(heard, ['a:bye', 'b:client-gone', 'b2bua-call:client-gone']);
  });
});
