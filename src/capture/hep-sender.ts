/**
 * Sends captured SIP messages to a HEP collector over UDP without ever
 * holding up the call path: capture() only puts a reference into a bounded
 * ring (a full ring drops and counts); the encoding and the sends happen
 * later, off the message's own turn, a batch per event-loop turn with a cap
 * on datagrams the socket has not finished yet.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { addressBytes, ipv6Form, type Flow, type WireDirection } from '../transport/index.js';
import { callIdOf } from './call-id.js';
import { encodeHep3, hepLength, IP_PROTOCOL, MAX_HEP_BYTES, type HepRecord } from './hep-encoder.js';

/** Why a captured message never reached the collector's socket. */
export type HepDropReason = 'queue-full' | 'send-error' | 'too-large' | 'no-address';

export interface HepSenderOptions {
  host: string;
  port: number;
  captureId: number;
  /** Sent in every packet as the auth key chunk when not empty. */
  password: string;
  /** Messages waiting to be sent at most; more are dropped. */
  maxQueue: number;
  logger: Logger;
  onSent: () => void;
  onDropped: (reason: HepDropReason) => void;
}

/** Messages encoded and handed to the socket in one event-loop turn. */
const BATCH = 256;
/** Datagrams handed to the socket whose send has not completed; beyond it we wait for completions. */
const MAX_IN_FLIGHT = 1024;
/** A collector whose name did not resolve is looked up again after this long. */
const RETRY_MS = 10_000;
/** Send failures are logged at most this often. */
const LOG_EVERY_MS = 60_000;
/** Read once: a getter, and capture() runs for every message. */
const TIME_ORIGIN = performance.timeOrigin;

/** Where a flow's messages come from and go to, as HEP writes it; fixed for the flow's life. */
interface Endpoints {
  family: 'IPv4' | 'IPv6';
  ipProtocol: number;
  local: Buffer;
  remote: Buffer;
  localPort: number;
  remotePort: number;
}

export class HepSender {
  readonly #o: HepSenderOptions;
  readonly #authKey: Buffer | undefined;
  readonly #endpoints = new WeakMap<Flow, Endpoints | null>();
  // The ring: parallel arrays, so capture() allocates nothing.
  readonly #dirs: Uint8Array;
  readonly #times: Float64Array;
  readonly #flows: Array<Flow | undefined>;
  readonly #data: Array<Buffer | undefined>;
  #head = 0;
  #count = 0;
  #socket: Socket | undefined;
  #connected = false;
  #stopped = false;
  #scheduled = false;
  #inFlight = 0;
  #retry: NodeJS.Timeout | undefined;
  #lastErrorLog = -Infinity;
  readonly #flush = (): void => this.#drain();
  readonly #sent = (err: Error | null): void => this.#onSent(err);

  constructor(options: HepSenderOptions) {
    this.#o = options;
    this.#authKey = options.password === '' ? undefined : Buffer.from(options.password, 'utf8');
    const n = options.maxQueue;
    this.#dirs = new Uint8Array(n);
    this.#times = new Float64Array(n);
    this.#flows = new Array<Flow | undefined>(n).fill(undefined);
    this.#data = new Array<Buffer | undefined>(n).fill(undefined);
  }

  /** Messages waiting to be sent. */
  get queued(): number {
    return this.#count;
  }

  /**
   * Connects the socket; a collector given by name is resolved in the
   * background (a slow or broken resolver must not hold up start-up; until
   * then messages wait in the bounded queue). Never throws.
   */
  async start(): Promise<void> {
    if (isIP(this.#o.host) !== 0) await this.#connect();
    else void this.#connect();
  }

  /** The wire tap's observer: one message in or out. Never throws. */
  capture(direction: WireDirection, flow: Flow, data: Buffer): void {
    // Keepalives (CRLF, STUN) are not SIP messages.
    const first = data[0];
    if (first === undefined || first < 0x20) return;
    if (this.#count === this.#dirs.length) {
      this.#o.onDropped('queue-full');
      return;
    }
    const at = (this.#head + this.#count) % this.#dirs.length;
    this.#dirs[at] = direction === 'in' ? 0 : 1;
    this.#times[at] = TIME_ORIGIN + performance.now();
    this.#flows[at] = flow;
    this.#data[at] = data;
    this.#count += 1;
    this.#schedule();
  }

  /** Stops sending; what is still queued is discarded. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#flows.fill(undefined);
    this.#data.fill(undefined);
    this.#count = 0;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  async #connect(): Promise<void> {
    const { host, port, logger } = this.#o;
    let address: string;
    try {
      address = isIP(host) !== 0 ? host : (await lookup(host)).address;
    } catch (err) {
      if (this.#stopped) return;
      logger.warn({ err, collector: `${host}:${port}` }, 'hep collector name does not resolve; capture waits (queue bounded)');
      this.#retry = setTimeout(() => void this.#connect(), RETRY_MS);
      this.#retry.unref();
      return;
    }
    if (this.#stopped) return;
    const socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    socket.on('error', (err) => this.#logError(err));
    // Never keeps the process alive: capture is a side job.
    socket.unref();
    await new Promise<void>((resolve) => {
      socket.connect(port, address, () => {
        if (this.#socket === socket) this.#connected = true;
        resolve();
      });
    });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  #drain(): void {
    this.#scheduled = false;
    const socket = this.#socket;
    if (socket === undefined || !this.#connected || this.#stopped) return;
    let batch = 0;
    while (this.#count > 0 && batch < BATCH && this.#inFlight < MAX_IN_FLIGHT) {
      const at = this.#head;
      const flow = this.#flows[at];
      const data = this.#data[at];
      const out = this.#dirs[at] === 1;
      const time = this.#times[at] ?? 0;
      this.#flows[at] = undefined;
      this.#data[at] = undefined;
      this.#head = (at + 1) % this.#dirs.length;
      this.#count -= 1;
      batch += 1;
      if (flow === undefined || data === undefined) continue;
      const packet = this.#packet(flow, out, time, data);
      if (packet === undefined) continue;
      this.#inFlight += 1;
      try {
        socket.send(packet, this.#sent);
      } catch (err) {
        this.#inFlight -= 1;
        this.#o.onDropped('send-error');
        this.#logError(err);
      }
    }
    if (this.#count > 0 && this.#inFlight < MAX_IN_FLIGHT) this.#schedule();
  }

  #packet(flow: Flow, out: boolean, time: number, data: Buffer): Buffer | undefined {
    const ends = this.#endpointsOf(flow);
    if (ends === undefined) {
      this.#o.onDropped('no-address');
      return undefined;
    }
    const seconds = Math.floor(time / 1000);
    const record: HepRecord = {
      family: ends.family,
      ipProtocol: ends.ipProtocol,
      source: out ? ends.local : ends.remote,
      destination: out ? ends.remote : ends.local,
      sourcePort: out ? ends.localPort : ends.remotePort,
      destinationPort: out ? ends.remotePort : ends.localPort,
      seconds,
      micros: Math.min(999_999, Math.floor((time - seconds * 1000) * 1000)),
      captureId: this.#o.captureId,
      authKey: this.#authKey,
      correlationId: callIdOf(data),
      payload: data,
    };
    if (hepLength(record) > MAX_HEP_BYTES) {
      this.#o.onDropped('too-large');
      return undefined;
    }
    return encodeHep3(record);
  }

  #endpointsOf(flow: Flow): Endpoints | undefined {
    const known = this.#endpoints.get(flow);
    if (known !== undefined) return known ?? undefined;
    const ends = endpointsOf(flow);
    this.#endpoints.set(flow, ends ?? null);
    return ends;
  }

  #onSent(err: Error | null): void {
    this.#inFlight -= 1;
    if (err === null) this.#o.onSent();
    else {
      this.#o.onDropped('send-error');
      this.#logError(err);
    }
    if (this.#count > 0) this.#schedule();
  }

  #logError(err: unknown): void {
    const now = performance.now();
    if (now - this.#lastErrorLog < LOG_EVERY_MS) return;
    this.#lastErrorLog = now;
    this.#o.logger.warn({ err, collector: `${this.#o.host}:${this.#o.port}` }, 'hep send failed; messages are dropped and counted (sbc_hep_dropped_total)');
  }
}

/**
 * The addresses HEP reports for a flow. A UDP listener bound to a wildcard
 * address cannot tell which of our addresses a datagram reached: its
 * advertised address stands in when that is an IP of the same family. Both
 * ends IPv4 (an IPv4-mapped IPv6 address counts as IPv4) → IPv4 chunks;
 * otherwise IPv6 chunks, IPv4 written in its mapped form.
 */
export function endpointsOf(flow: Flow): Endpoints | undefined {
  let localAddress = flow.local.address;
  if (localAddress === '0.0.0.0' || localAddress === '::') {
    const advertised = flow.listener.advertise;
    if (isIP(advertised) === (localAddress === '::' ? 6 : 4)) localAddress = advertised;
  }
  const local = addressBytes(localAddress);
  const remote = addressBytes(flow.remote.address);
  if (local === undefined || remote === undefined) return undefined;
  const v4 = local.length === 4 && remote.length === 4;
  return {
    family: v4 ? 'IPv4' : 'IPv6',
    ipProtocol: flow.transport === 'udp' ? IP_PROTOCOL.udp : IP_PROTOCOL.tcp,
    local: v4 ? local : ipv6Form(local),
    remote: v4 ? remote : ipv6Form(remote),
    localPort: flow.local.port,
    remotePort: flow.remote.port,
  };
}
