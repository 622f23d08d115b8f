import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dispatcher, type BackendGroupSpec, type Target } from '../../../src/routing/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { UdpSipBackend } from './helpers/udp-backend.js';
import { udpOptionsProbe } from './helpers/udp-probe.js';
import { waitFor } from './helpers/wait.js';

/** Probing against real UDP SIP backends on 127.0.0.1. */
describe('OPTIONS probing over UDP', () => {
  const probe = { method: 'OPTIONS', intervalSeconds: 0.05, failuresToDown: 3, successesToUp: 2, timeoutMs: 200 };
  const group = (backends: UdpSipBackend[]): BackendGroupSpec => ({
    algorithm: 'round-robin',
    probe,
    targets: backends.map((b) => ({ uri: b.uri, weight: 1, priority: 0 })),
  });

  it('takes a backend that stops answering out after failuresToDown probes and back after successesToUp', async () => {
    const one = await UdpSipBackend.start(200);
    const two = await UdpSipBackend.start(200);
    const changes: { uri: string; up: boolean; failures: number; successes: number }[] = [];
    const d = new Dispatcher({
      groups: { default: group([one, two]) },
      routes: [],
      logger: silentLogger(),
      probe: udpOptionsProbe,
      onChange: (t) => changes.push({ uri: t.uri, up: t.up, failures: t.consecutiveFailures, successes: t.consecutiveSuccesses }),
    });
    try {
      await d.start();
      await waitFor(() => one.answered >= 2 && two.answered >= 2, 'both backends probed');
      const uris = (): string[] => d.select('default', {}).map((t: Target) => t.uri).sort();
      assert.deepEqual(uris(), [one.uri, two.uri].sort());
      assert.equal(d.snapshot().groups[0]?.targets[1]?.lastProbe?.outcome, 'response 200');

      await two.close();
      await waitFor(() => changes.length === 1, 'the closed backend marked down');
      assert.deepEqual(changes[0], { uri: two.uri, up: false, failures: probe.failuresToDown, successes: 0 });
      for (let i = 0; i < 4; i++) assert.deepEqual(d.select('default', {}).map((t) => t.uri), [one.uri]);
      const downView = d.snapshot().groups[0]?.targets[1];
      assert.equal(downView?.up, false);
      assert.match(downView?.lastProbe?.outcome ?? '', /^(timeout|error: ECONNREFUSED)$/);

      await two.reopen();
      await waitFor(() => changes.length === 2, 'the reopened backend back up');
      assert.deepEqual(changes[1], { uri: two.uri, up: true, failures: 0, successes: probe.successesToUp });
      assert.deepEqual(uris(), [one.uri, two.uri].sort());
      assert.ok(changes.every((c) => c.uri === two.uri), 'the healthy backend never changed state');
    } finally {
      d.stop();
      await one.close();
      await two.close();
    }
  });

  it('marks a backend answering 503 down and leaves one answering 200 up', async () => {
    const healthy = await UdpSipBackend.start(200);
    const overloaded = await UdpSipBackend.start(503);
    const d = new Dispatcher({ groups: { default: group([healthy, overloaded]) }, routes: [], logger: silentLogger(), probe: udpOptionsProbe });
    try {
      await d.start();
      await waitFor(() => d.snapshot().groups[0]?.targets[1]?.up === false, 'the 503 backend down');
      const [first, second] = d.snapshot().groups[0]?.targets ?? [];
      assert.equal(first?.up, true);
      assert.equal(second?.lastProbe?.outcome, 'response 503');
      assert.ok(overloaded.answered >= probe.failuresToDown);
      assert.deepEqual(d.select('default', {}).map((t) => t.uri), [healthy.uri]);
    } finally {
      d.stop();
      await healthy.close();
      await overloaded.close();
    }
  });

  it('a group whose every target is down is in panic mode: it still routes over them, and suggests a Retry-After', async () => {
    const dead = await UdpSipBackend.start(200);
    await dead.close();
    const d = new Dispatcher({ groups: { default: group([dead]) }, routes: [], logger: silentLogger(), probe: udpOptionsProbe });
    try {
      await d.start();
      await waitFor(() => d.snapshot().groups[0]?.targets[0]?.up === false, 'the dead backend down');
      assert.equal(d.isPanicking('default'), true);
      assert.equal(d.select('default', {}).length, 1);
      assert.equal(d.retryAfterSeconds('default'), 1);
    } finally {
      d.stop();
    }
  });
});
