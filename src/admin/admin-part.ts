/** The admin listener as a part of the gateway: /healthz, /metrics and the /api routes of CONTRACT.md. */
import type { Registry } from 'prom-client';
import type { B2bua } from '../b2bua/index.js';
import type { MediaSelection } from '../media/media-from-config.js';
import type { RegistrarPart } from '../registrar/registrar-part.js';
import type { Dispatcher } from '../routing/index.js';
import type { Part, PartContext } from '../server/part.js';
import type { TransportLayer } from '../transport/index.js';
import type { AdminReply } from './server.js';
import { AdminServer } from './server.js';
import { parentEndpoint } from '../cluster/ipc-endpoint.js';
import { gatewayWorkerId } from '../cluster/worker-env.js';
import { serveAdminOverIpc } from '../cluster/worker-admin.js';

export interface AdminPartOptions extends PartContext {
  registry: Registry;
  transport: () => TransportLayer;
  dispatcher: () => Dispatcher;
  media: () => MediaSelection;
  b2bua: () => B2bua | undefined;
  /** Proxy mode: calls with a client of ours on one side, with their client flow's state (flow recovery). */
  proxyDialogs?: () => unknown[];
  /** Topology hiding on: records this node issued that are still in the state store (undefined when it is off). */
  topologyRecords?: () => Promise<number | undefined>;
  registrar: RegistrarPart;
  /** POST /api/reload. */
  reload: () => Promise<AdminReply>;
  /** Whether the gateway is stopping (/healthz then fails). */
  stopping: () => boolean;
}

export class AdminPart implements Part {
  readonly name = 'admin';
  readonly #o: AdminPartOptions;
  #server: AdminServer | undefined;
  /** Set in a gateway worker: the supervisor serves the listener and asks this worker over IPC. */
  #stopIpc: (() => void) | undefined;

  constructor(options: AdminPartOptions) {
    this.#o = options;
  }

  /** Bound address (port 0 in config → ephemeral). */
  address(): { host: string; port: number } | undefined {
    return this.#stopIpc === undefined ? this.#server?.address() : undefined;
  }

  url(): string | undefined {
    return this.#stopIpc === undefined ? this.#server?.url() : undefined;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const c = o.config;
    const transport = o.transport();
    const dispatcher = o.dispatcher();
    const media = o.media();
    const registrar = o.registrar;
    const admin = new AdminServer({
      listen: c.admin.listen,
      ...(c.admin.token !== '' ? { token: c.admin.token } : {}),
      logger: o.logger.child({ part: 'admin' }),
      registry: o.registry,
      health: () => {
        const states = transport.listeners.map((l) => ({ transport: l.transport, address: l.address, port: l.boundPort, up: l.up }));
        return { ok: states.every((s) => s.up) && !o.stopping(), details: { listeners: states }, summary: { registrar: { mode: registrar.mode, registrations: registrar.localRegistrar?.count() ?? 0 } } };
      },
    });
    admin.route('GET', '/api/backends', () => ({ status: 200, body: dispatcher.snapshot() }));
    admin.route('POST', '/api/reload', () => o.reload());
    admin.route('GET', '/api/registrations', async () => ({ status: 200, body: await registrar.snapshot() }));
    admin.route('GET', '/api/flows', () => ({ status: 200, body: { flows: flowList(transport, registrar) } }));
    admin.route('GET', '/api/dialogs', async () => {
      const records = await o.topologyRecords?.();
      const body = dialogList(o.b2bua(), media, o.proxyDialogs?.() ?? []);
      return { status: 200, body: records === undefined ? body : { ...body, topologyRecords: records } };
    });
    admin.route('GET', '/api/engines', () => ({ status: 200, body: media.snapshot() }));
    this.#server = admin;
    const worker = gatewayWorkerId();
    const endpoint = parentEndpoint();
    if (worker !== undefined && endpoint !== undefined) {
      this.#stopIpc = serveAdminOverIpc({ admin, registry: o.registry, worker, endpoint, logger: o.logger.child({ part: 'admin' }) });
      return;
    }
    await admin.start();
  }

  async stop(): Promise<void> {
    this.#stopIpc?.();
    await this.#server?.stop();
  }
}

/** GET /api/flows: open flows with what is registered through each (CONTRACT.md). */
function flowList(transport: TransportLayer, registrar: RegistrarPart): unknown[] {
  const now = performance.now();
  const out: unknown[] = [];
  for (const f of transport.flows.values()) {
    const registered = registrar.registrations.bindings.view(f.id).bindings;
    out.push({
      id: f.id,
      transport: f.transport,
      remote: `${f.remote.address}:${f.remote.port}`,
      ageSeconds: Math.round((now - f.createdAt) / 1000),
      idleSeconds: Math.round((now - f.lastSeen) / 1000),
      registered,
      ...(registered.length > 0 ? { token: transport.tokens.issue(f) } : {}),
    });
    if (out.length >= 10_000) break;
  }
  return out;
}

/**
 * GET /api/dialogs: B2BUA dialogs with their media path and client flow
 * state (up, recovering, gone), the proxy's calls with a client of ours;
 * the embedded relay's sessions too. With topology hiding on, the route
 * start adds `topologyRecords`: the dialogs' hidden route sets still held.
 */
function dialogList(b2bua: B2bua | undefined, media: MediaSelection, proxied: unknown[]): Record<string, unknown> {
  const embedded = media.embedded;
  const dialogs = [...(b2bua?.snapshot() ?? []), ...(proxied as Array<{ callId: string }>)].map((d) => ({ ...d, media: embedded !== undefined ? { relay: 'embedded', path: embedded.mediaPath(d.callId) } : { relay: media.active } }));
  return embedded !== undefined ? { dialogs, mediaSessions: embedded.sessionList() } : { dialogs };
}
