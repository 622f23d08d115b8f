/**
 * A child process (child_process.fork) that serves a MemoryStore over its IPC
 * channel to the parent, as the supervisor serves its workers. Test-only
 * control messages: `{ fixture: 'reset' }` serves a fresh, empty store and
 * answers `{ fixture: 'reset-done' }`; `{ fixture: 'mute' }` stops answering
 * (a supervisor that hangs).
 */
import { serveStoreOver } from '../../../src/cluster/shared-store-server.js';
import type { IpcEndpoint } from '../../../src/cluster/ipc-endpoint.js';
import { MemoryStore } from '../../../src/state/memory-store.js';

const endpoint = process as unknown as IpcEndpoint;
let store = new MemoryStore();
let stop = serveStoreOver(endpoint, store);

process.on('message', (message: unknown) => {
  const m = message as { fixture?: string };
  if (m.fixture === 'reset') {
    stop();
    void store.close();
    store = new MemoryStore();
    stop = serveStoreOver(endpoint, store);
    process.send?.({ fixture: 'reset-done' });
  } else if (m.fixture === 'mute') {
    stop();
    process.send?.({ fixture: 'muted' });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ fixture: 'ready' });
