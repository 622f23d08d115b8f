import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hashFields } from '../../../src/state/hash-fields.js';

describe('hashFields', () => {
  it('is an ordinary empty object, or a copy of the fields given', () => {
    const empty = hashFields();
    assert.equal(Object.getPrototypeOf(empty), Object.prototype);
    assert.deepEqual(empty, {});
    const copy = hashFields({ 'r.t1': '["<sip:p1;lr>"]', 'c.t1': '<sip:fs@10.0.0.1>' });
    assert.deepEqual(copy, { 'r.t1': '["<sip:p1;lr>"]', 'c.t1': '<sip:fs@10.0.0.1>' });
    assert.deepEqual(Object.keys(copy), ['r.t1', 'c.t1'], 'fields keep their order');
  });

  it('stays in dictionary mode as per-dialog field names are added (no hidden class per record)', () => {
    // V8's own view, through a child node with natives syntax: a plain {} gets fast properties, ours does not.
    const module = fileURLToPath(new URL('../../../src/state/hash-fields.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(({ hashFields }) => {
      const ours = hashFields(); ours['r.' + Math.random()] = 'x';
      const plain = {}; plain['r.' + Math.random()] = 'x';
      console.log(JSON.stringify([%HasFastProperties(ours), %HasFastProperties(plain)]));
    });`;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [false, true]);
  });
});
