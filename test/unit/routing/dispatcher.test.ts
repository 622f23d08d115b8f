import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  Dispatcher, RoutingConfigError, type BackendGroupSpec, type ProbeFunction, type ProbeOutcome, type Target,
} from '../../../src/routing/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { waitFor } from './helpers/wait.js';

const probeSpec = { method: 'OPTIONS', intervalSeconds: 10, failuresToDown: 2, successesToUp: 2 };
const spec = (uris: string[], algorithm: BackendGroupSpec['algorithm'] = 'round-robin'): BackendGroupSpec => ({
  algorithm,
  probe: { ...probeSpec },
  targets: uris.map((uri, i) => ({ uri, weight: 1, priority: i })),
});
const alive: ProbeFunction = async () => ({ kind: 'response', status: 200 });

const open: Dispatcher[] = [];
function make(options: Partial<ConstructorParameters<typeof Dispatcher>[0]> & { groups: Record<string, BackendGroupSpec> }): Dispatcher {
  const d = new Dispatcher({ routes: [], logger: silentLogger(), probe: alive, ...options });
  open.push(d);
  return d;
}
afterEach(() => {
  for (const d of open.splice(0)) d.stop();
});

const A = 'sip:10.0.0.1:5060;transport=udp';
const B = 'sip:10.0.0.2:5070;transport=tcp';

describe('Dispatcher', () => {
  it('starts with every IP target up and selects them all', () => {
    const d = make({ groups: { default: spec([A, B]) } });
    assert.equal(d.isEmpty, false);
    const list = d.select('default', {});
    assert.deepEqual(list.map((t) => [t.transport, t.address, t.port, t.up]), [['udp', '10.0.0.1', 5060, true], ['tcp', '10.0.0.2', 5070, true]]);
    assert.deepEqual(d.select('nope', {}), []);
  });

  it('marks a target down after failuresToDown failed requests and skips it', () => {
    const changes: [string, boolean][] = [];
    const d = make({ groups: { default: spec([A, B]) }, onChange: (t) => changes.push([t.uri, t.up]) });
    const a = d.select('default', {}).find((t) => t.uri === A) as Target;
    d.reportFailure(a, 'timeout');
    assert.equal(a.up, true, 'one failure is not enough');
    d.reportSuccess(a);
    d.reportFailure(a, 'timeout');
    assert.equal(a.up, true, 'a success in between resets the count');
    d.reportFailure(a, '503');
    assert.equal(a.up, false);
    assert.match(a.reason ?? '', /2 consecutive failures, last: request answered 503/);
    assert.deepEqual(changes, [[A, false]]);
    for (let i = 0; i < 5; i++) assert.deepEqual(d.select('default', {}).map((t) => t.uri), [B]);
    const b = d.select('default', {})[0] as Target;
    d.reportFailure(b, 'transport');
    d.reportFailure(b, 'transport');
    d.reportFailure(b, '503');
    assert.equal(b.up, true, 'relay failures alone never take down the last up target (probes decide)');
    assert.equal(b.consecutiveFailures, 3);
    assert.deepEqual(d.select('default', {}).map((t) => t.uri), [B]);
    assert.equal(d.retryAfterSeconds('default'), 20, 'successesToUp (2) probe intervals of 10 s');
  });

  it('counts in-flight requests and never goes below zero', () => {
    const d = make({ groups: { default: spec([A]) } });
    const [a] = d.select('default', {}) as [Target];
    d.acquire(a);
    d.acquire(a);
    d.release(a);
    assert.equal(a.inFlight, 1);
    d.release(a);
    d.release(a);
    assert.equal(a.inFlight, 0);
  });

  it('snapshot() has the GET /api/backends shape and survives JSON', () => {
    const d = make({ groups: { default: spec([A, B], 'weighted') } });
    const [a] = d.select('default', {}) as [Target];
    d.acquire(a);
    const body = JSON.parse(JSON.stringify(d.snapshot()));
    assert.deepEqual(body, {
      groups: [{
        name: 'default',
        algorithm: 'weighted',
        panic: false,
        targets: [
          { uri: A, transport: 'udp', address: '10.0.0.1', port: 5060, up: true, reason: null, inFlight: 1, weight: 1, priority: 0, lastProbe: null },
          { uri: B, transport: 'tcp', address: '10.0.0.2', port: 5070, up: true, reason: null, inFlight: 0, weight: 1, priority: 1, lastProbe: null },
        ],
      }],
    });
  });

  it('records probe outcomes: any response but 503 is alive, 503/timeout/error are not', async () => {
    const outcomes = new Map<string, ProbeOutcome>([
      ['sip:10.0.0.1', { kind: 'response', status: 404 }],
      ['sip:10.0.0.2', { kind: 'response', status: 503 }],
      ['sip:10.0.0.3', { kind: 'timeout' }],
      ['sip:10.0.0.4', { kind: 'error', message: 'ECONNREFUSED' }],
    ]);
    const probe: ProbeFunction = async (t) => outcomes.get(t.uri) ?? { kind: 'timeout' };
    const group = spec([...outcomes.keys()]);
    group.probe = { method: 'OPTIONS', intervalSeconds: 0.02, failuresToDown: 2, successesToUp: 1 };
    const d = make({ groups: { default: group }, probe });
    await d.start();
    await waitFor(() => d.snapshot().groups[0]!.targets.filter((t) => t.up).length === 1, 'three targets down');
    const snap = d.snapshot().groups[0]?.targets ?? [];
    assert.equal(d.isPanicking('default'), true, '1 of 4 up: panic mode');
    assert.equal(d.select('default', {}).length, 4, 'panic mode routes over every target');
    assert.deepEqual(snap.map((t) => [t.uri, t.up, t.lastProbe?.outcome]), [
      ['sip:10.0.0.1', true, 'response 404'],
      ['sip:10.0.0.2', false, 'response 503'],
      ['sip:10.0.0.3', false, 'timeout'],
      ['sip:10.0.0.4', false, 'error: ECONNREFUSED'],
    ]);
    assert.equal(typeof snap[0]?.lastProbe?.rttMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(snap[0]?.lastProbe?.at ?? '')));
  });

  it('treats a rejecting probe function as an error outcome', async () => {
    const group = spec([A]);
    group.probe = { method: 'OPTIONS', intervalSeconds: 0.02, failuresToDown: 1, successesToUp: 1 };
    const d = make({ groups: { default: group }, probe: async () => { throw new Error('socket exploded'); } });
    await d.start();
    await waitFor(() => d.snapshot().groups[0]?.targets[0]?.up === false, 'target down');
    assert.equal(d.snapshot().groups[0]?.targets[0]?.lastProbe?.outcome, 'error: socket exploded');
  });

  it('resolves host names at start and keeps an unresolvable one down with the reason', async () => {
    const resolve = async (host: string): Promise<string> => {
      if (host === 'fs1.example.com') return '192.0.2.7';
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    const d = make({ groups: { default: spec(['sip:fs1.example.com;transport=tcp', 'sip:gone.example.com']) }, resolve });
    assert.deepEqual(d.select('default', {}), [], 'names are not usable before they resolve');
    await d.start();
    assert.deepEqual(d.select('default', {}).map((t) => [t.host, t.address, t.port]), [['fs1.example.com', '192.0.2.7', 5060]]);
    const gone = d.snapshot().groups[0]?.targets[1];
    assert.equal(gone?.up, false);
    assert.equal(gone?.address, null);
    assert.equal(gone?.reason, 'cannot resolve host "gone.example.com": ENOTFOUND');
  });

  it('resolves a real name through the system resolver', async () => {
    const d = make({ groups: { default: spec(['sip:localhost:5099']) } });
    await d.start();
    const [t] = d.select('default', {});
    assert.ok(t?.address === '127.0.0.1' || t?.address === '::1', `localhost resolved to ${t?.address}`);
  });

  it('reload keeps the health of unchanged targets and applies the rest', async () => {
    const d = make({ groups: { default: spec([A, B]) } });
    const a = d.select('default', {}).find((t) => t.uri === A) as Target;
    d.acquire(a);
    d.reportFailure(a, 'timeout');
    d.reportFailure(a, 'timeout');
    assert.equal(a.up, false);
    const C = 'sip:10.0.0.3';
    const next = spec([A, C], 'priority');
    next.targets[0] = { uri: A, weight: 7, priority: 9 };
    await d.reload({ default: next, other: spec([B]) }, [{ domain: 'b.example.com', backend: 'other' }]);
    const snap = d.snapshot();
    assert.deepEqual(snap.groups.map((g) => [g.name, g.algorithm, g.targets.map((t) => [t.uri, t.up, t.inFlight, t.weight, t.priority])]), [
      ['default', 'priority', [[A, false, 1, 7, 9], [C, true, 0, 1, 1]]],
      ['other', 'round-robin', [[B, true, 0, 1, 0]]],
    ]);
    assert.equal(d.groupFor('b.example.com'), 'other');
    d.release(a);
    assert.equal(d.snapshot().groups[0]?.targets[0]?.inFlight, 0, 'a target handed out before the reload can still be released');
  });

  it('after a reload probes the new targets and never the removed ones', async () => {
    const calls = new Map<string, number>();
    const probe: ProbeFunction = async (t) => {
      calls.set(t.uri, (calls.get(t.uri) ?? 0) + 1);
      return { kind: 'response', status: 200 };
    };
    const fast = (uris: string[]): BackendGroupSpec => ({ ...spec(uris), probe: { ...probeSpec, intervalSeconds: 0.02 } });
    const d = make({ groups: { default: fast([A]) }, probe });
    await d.start();
    await waitFor(() => (calls.get(A) ?? 0) >= 2, 'A probed');
    await d.reload({ default: fast([B]) }, []);
    const aCallsAtReload = calls.get(A);
    await waitFor(() => (calls.get(B) ?? 0) >= 3, 'B probed');
    assert.equal(calls.get(A), aCallsAtReload);
    d.stop();
    const bCallsAtStop = calls.get(B);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(calls.get(B), bCallsAtStop, 'no probe after stop()');
  });

  it('refuses an invalid configuration naming the key, and keeps the old one', async () => {
    assert.throws(
      () => make({ groups: { default: spec(['sip:10.0.0.1;transport=sctp']) } }),
      (err: unknown) => err instanceof RoutingConfigError && err.code === 'SBC_ERR_CONFIG_KEY' && /backends\.default\.targets\[0\]\.uri/.test(err.message),
    );
    const d = make({ groups: { default: spec([A]) } });
    await assert.rejects(d.reload({ default: spec([A]) }, [{ domain: 'x.example.com', backend: 'missing' }]), /routes\[0\]\.backend: no backend group "missing"/);
    await assert.rejects(d.reload({ default: spec([A, A]) }, []), /listed twice/);
    assert.equal(d.select('default', {})[0]?.uri, A);
  });

  it('is empty without groups, and stop() is idempotent', async () => {
    const d = make({ groups: {} });
    assert.equal(d.isEmpty, true);
    assert.equal(d.groupFor('anything'), undefined);
    assert.equal(d.retryAfterSeconds('default'), 30);
    await d.start();
    d.stop();
    d.stop();
    d.close();
  });
});

describe('Dispatcher: honest health (issue 13)', () => {
  const C = 'sip:10.0.0.3:5060';
  const D = 'sip:10.0.0.4:5060';
  const oneStrike = (uris: string[]): BackendGroupSpec => ({ ...spec(uris), probe: { ...probeSpec, failuresToDown: 1 } });

  it('silence while we were in trouble is not counted; an answered 503 is', () => {
    let troubleSince = Infinity;
    const d = make({ groups: { default: oneStrike([A, B]) }, excuses: (since) => since <= troubleSince });
    const a = d.select('default', {}).find((t) => t.uri === A) as Target;
    troubleSince = 1000; // our loop was stalled at t=1000 ms
    d.reportFailure(a, 'timeout', 500);
    d.reportFailure(a, 'transport', 900);
    assert.equal(a.up, true, 'requests out during our stall are excused');
    assert.equal(a.consecutiveFailures, 0);
    d.reportFailure(a, '503', 500);
    assert.equal(a.up, false, 'a 503 is the target speaking: it counts');
  });

  it('silence while we were fine counts', () => {
    const d = make({ groups: { default: oneStrike([A, B]) }, excuses: (since) => since <= 1000 });
    const a = d.select('default', {}).find((t) => t.uri === A) as Target;
    d.reportFailure(a, 'timeout', 2000);
    assert.equal(a.up, false);
  });

  it('probe timeouts during our trouble are not counted either; probe answers are', async () => {
    const group = oneStrike([A, B]);
    group.probe = { method: 'OPTIONS', intervalSeconds: 0.02, failuresToDown: 1, successesToUp: 1 };
    let late = true;
    const outcomes: ProbeOutcome[] = [];
    const d = make({ groups: { default: group }, excuses: () => late, probe: async (t) => {
      const o: ProbeOutcome = t.uri === A ? { kind: 'timeout' } : { kind: 'response', status: 503 };
      outcomes.push(o);
      return o;
    } });
    await d.start();
    await waitFor(() => d.snapshot().groups[0]!.targets[1]!.up === false, 'B down by its 503');
    await waitFor(() => outcomes.filter((o) => o.kind === 'timeout').length >= 3, 'A probed');
    assert.equal(d.snapshot().groups[0]!.targets[0]!.up, true, 'A timed out only while we were late');
    late = false;
    await waitFor(() => d.snapshot().groups[0]!.targets[0]!.up === false, 'A down once we are fine');
  });

  it('never takes the last up target down on relay failures alone; probes can', async () => {
    const d = make({ groups: { default: oneStrike([A]) } });
    const [a] = d.select('default', {}) as [Target];
    for (let i = 0; i < 5; i++) d.reportFailure(a, 'timeout');
    assert.equal(a.up, true);
    const group = oneStrike([A]);
    group.probe = { method: 'OPTIONS', intervalSeconds: 0.02, failuresToDown: 1, successesToUp: 1 };
    const p = make({ groups: { default: group }, probe: async () => ({ kind: 'timeout' }) });
    await p.start();
    await waitFor(() => p.snapshot().groups[0]!.targets[0]!.up === false, 'probes take it down');
  });

  it('panic mode: below half up, every target is tried; at half or more only the up ones; logged once per change', () => {
    const lines: string[] = [];
    const logger = silentLogger();
    const child = { ...logger, warn: (_o: unknown, m: string) => lines.push(`warn ${m}`), info: (_o: unknown, m: string) => lines.push(`info ${m}`), debug: () => undefined, child: () => child } as unknown as typeof logger;
    const d = make({ groups: { default: oneStrike([A, B, C, D]) }, logger: { ...logger, child: () => child } as unknown as typeof logger });
    const t = (uri: string) => d.snapshot().groups[0]!.targets.find((x) => x.uri === uri)!;
    const get = (uri: string) => d.select('default', {}).concat(d.select('default', {})).find((x) => x.uri === uri) as Target;
    d.reportFailure(get(A), 'timeout');
    d.reportFailure(get(B), 'timeout');
    assert.equal(t(A).up, false);
    assert.equal(d.isPanicking('default'), false, '2 of 4 up is not below half');
    assert.deepEqual(d.select('default', {}).map((x) => x.uri).sort(), [C, D]);
    d.reportFailure(get(C), 'timeout');
    assert.equal(d.isPanicking('default'), true);
    assert.deepEqual(d.select('default', {}).map((x) => x.uri).sort(), [A, B, C, D]);
    d.reportFailure(get(A), 'timeout'); // no change of mode, no second line
    d.reportSuccess(get(A));
    d.reportSuccess(get(A));
    assert.equal(d.isPanicking('default'), false);
    assert.deepEqual(lines.filter((l) => /panic/.test(l)), ['warn backend group in panic mode: most targets look down, routing over all of them', 'info backend group out of panic mode']);
  });
});
