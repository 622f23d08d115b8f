/**
 * The other workers of this gateway (workers > 1), known by their own
 * ports: what one of them sends from its own port, from an address of this
 * machine, it relayed here (a call for a user whose connection this worker
 * holds, an in-dialog request along our Record-Route).
 */
import { networkInterfaces } from 'node:os';
import type { Flow } from '../transport/flow.js';

export class SiblingWorkers {
  /** `transport port` of the other workers' own ports. */
  #ports = new Set<string>();
  #localAddresses = new Set<string>();

  /** Their own ports now (at start, and as workers are replaced). */
  set(ports: Iterable<{ transport: string; port: number }>): void {
    const set = new Set<string>();
    for (const p of ports) set.add(`${p.transport} ${p.port}`);
    if (set.size > 0 && this.#localAddresses.size === 0) {
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) this.#localAddresses.add(a.address);
    }
    this.#ports = set;
  }

  /** Whether `flow` comes from another worker of this gateway. */
  has(flow: Flow): boolean {
    return this.#ports.size > 0 && this.#ports.has(`${flow.transport} ${flow.remote.port}`) && this.#localAddresses.has(flow.remote.address);
  }
}
