/**
 * The worker's state store against a store served by another process over a
 * real IPC channel (child_process.fork, the same channel node:cluster gives a
 * worker): the conformance suite every StateStore passes, then faults on cue —
 * a server that stops answering, a server that dies, too many requests waiting.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { IpcStateStore } from '../../../src/cluster/ipc-state-store.js';
import type { IpcEndpoint } from '../../../src/cluster/ipc-endpoint.js';
import { StateStoreClosedError, StateStoreUnavailableError } from '../../../src/state/index.js';
import { describeStoreConformance, eventually } from '../../unit/state/store-conformance.js';

const SERVER = fileURLToPath(new URL('../../helpers/cluster/store-server.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startServer(): Promise<ChildProcess> {
  const child = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await fixtureReply(child, 'ready');
  return child;
}

function fixtureReply(child: ChildProcess, kind: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if ((m as { fixture?: string }).fixture !== kind) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (): void => reject(new Error(`store server exited before "${kind}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('IpcStateStore over a real IPC channel', () => {
  let server: ChildProcess;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await stopServer(server);
  });

  describeStoreConformance('IpcStateStore', {
    fresh: async (options = {}) => {
      server.send({ fixture: 'reset' });
      await fixtureReply(server, 'reset-done');
      return new IpcStateStore({ endpoint: server as unknown as IpcEndpoint, ...options });
    },
    elapse: sleep,
  });

  it('two stores on one channel share data and each gets what is published, its own publications included', async (t) => {
    const a = new IpcStateStore({ endpoint: server as unknown as IpcEndpoint });
    const b = new IpcStateStore({ endpoint: server as unknown as IpcEndpoint });
    t.after(async () => { await a.close(); await b.close(); });
    const gotA: string[] = [];
    const gotB: string[] = [];
    await a.subscribe('bans', (m) => gotA.push(m));
    await b.subscribe('bans', (m) => gotB.push(m));
    await a.set('shared', 'from a', 10);
    assert.equal(await b.get('shared'), 'from a');
    await a.publish('bans', '192.0.2.7');
    await eventually(() => gotA.length === 1 && gotB.length === 1, 'both stores got the publication');
    await a.close();
    await b.publish('bans', '192.0.2.8');
    await eventually(() => gotB.length === 2, 'b got its own second publication');
    assert.deepEqual(gotA, ['192.0.2.7'], 'a closed store gets nothing more');
  });
});

describe('IpcStateStore faults', () => {
  it('a server that stops answering: each request rejects after timeoutMs with StateStoreUnavailableError, none hangs', async (t) => {
    const server = await startServer();
    t.after(() => stopServer(server));
    const store = new IpcStateStore({ endpoint: server as unknown as IpcEndpoint, timeoutMs: 300 });
    t.after(() => store.close());
    await store.set('k', 'v', 10);
    server.send({ fixture: 'mute' });
    await fixtureReply(server, 'muted');
    const results = await Promise.allSettled([store.get('k'), store.incr('n', 1, 10), store.subscribe('c', () => undefined)]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof StateStoreUnavailableError, String(r.reason));
      assert.match((r.reason as Error).message, /did not answer .* within 300 ms/);
    }
    assert.equal(store.pending, 0, 'nothing left waiting');
  });

  it('a server that dies: waiting requests reject at once and later ones too, naming the closed channel', async (t) => {
    const server = await startServer();
    t.after(() => stopServer(server));
    const store = new IpcStateStore({ endpoint: server as unknown as IpcEndpoint, timeoutMs: 60_000 });
    t.after(() => store.close());
    server.send({ fixture: 'mute' });
    await fixtureReply(server, 'muted');
    const waiting = assert.rejects(store.get('k'), (err: unknown) => err instanceof StateStoreUnavailableError && /channel to the supervisor/.test(err.message));
    await stopServer(server);
    await waiting;
    await assert.rejects(store.set('k', 'v', 10), StateStoreUnavailableError);
    await store.close();
    await assert.rejects(store.get('k'), StateStoreClosedError);
  });

  it('bounds the requests waiting: one past maxPending rejects at once, the others still complete', async (t) => {
    const server = await startServer();
    t.after(() => stopServer(server));
    const store = new IpcStateStore({ endpoint: server as unknown as IpcEndpoint, maxPending: 3 });
    t.after(() => store.close());
    const first = [store.set('a', '1', 10), store.set('b', '2', 10), store.set('c', '3', 10)];
    await assert.rejects(store.get('a'), (err: unknown) => err instanceof StateStoreUnavailableError && /3 requests already waiting/.test(err.message));
    await Promise.all(first);
    assert.equal(await store.get('c'), '3', 'room again once answers came');
  });
});
