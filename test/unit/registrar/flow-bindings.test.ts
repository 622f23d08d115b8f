import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowBindings } from '../../../src/registrar/flow-bindings.js';

test('bindings expire, are replaced per AOR, and are bounded per flow and in total', () => {
  let now = 1_000_000;
  const b = new FlowBindings({ maxPerFlow: 2, maxFlows: 2, now: () => now });
  b.update('f1', 'sip:a@x', [{ contact: 'sip:1@h', expiresSeconds: 60 }]);
  b.update('f1', 'sip:b@x', [{ contact: 'sip:2@h', expiresSeconds: 120 }]);
  b.update('f1', 'sip:c@x', [{ contact: 'sip:3@h', expiresSeconds: 120 }]);
  assert.deepEqual(b.bindingsOf('f1').map((x) => x.aor), ['sip:b@x', 'sip:c@x'], 'oldest AOR dropped at the per-flow cap');

  now += 121_000;
  assert.equal(b.has('f1'), false, 'expired bindings vanish');

  b.update('f1', 'sip:a@x', [{ contact: 'sip:1@h', expiresSeconds: 60 }]);
  b.update('f2', 'sip:a@x', [{ contact: 'sip:1@h', expiresSeconds: 60 }]);
  b.update('f3', 'sip:a@x', [{ contact: 'sip:1@h', expiresSeconds: 60 }]);
  assert.deepEqual(b.flowIds().sort(), ['f2', 'f3'], 'oldest flow evicted at the total cap');

  b.update('f2', 'sip:a@x', [{ contact: 'sip:1@h', expiresSeconds: 0 }]);
  assert.equal(b.has('f2'), false, 'expires=0 unregisters');
  b.dropFlow('f3');
  assert.equal(b.flowCount, 0);
});
