/**
 * Which worker a message on the shared UDP port belongs to (`workers` > 1).
 * The kernel keeps a source 4-tuple on one worker's socket, but a restarted
 * worker remaps sources and a peer may answer from another port: a response
 * names its worker in our Via branch, an in-dialog request in the `w`
 * parameter of our Record-Route (now its top Route) or, with no Route, of
 * our Contact (now its Request-URI: the B2BUA's dialogs). Anything unmarked
 * is handled where it lands.
 */
import type { SipMessage } from '../sip/message.js';
import { workerOfBranch, workerOfParam } from '../sip/worker-mark.js';

/** A datagram passed to the worker that owns it, with where it came from. */
export interface SteeredDatagram {
  /** Index of the shared listener it arrived on (the same in every worker). */
  listener: number;
  address: string;
  port: number;
  data: Buffer;
}

/** What a worker's transport layer needs to hand a message to another worker. */
export interface WorkerSteering {
  /** This worker's id (1…N). */
  readonly id: number;
  /** Pass a datagram to worker `owner` (over cluster IPC). */
  pass(owner: number, datagram: SteeredDatagram): void;
}

/** The worker a message names, or undefined when it names none. */
export function ownerOf(msg: SipMessage): number | undefined {
  if (msg.kind === 'response') return workerOfBranch(msg.topVia()?.params.get('branch'));
  const top = msg.routes()?.[0];
  if (top !== undefined) return workerOfParam(top.uri.params.get('w'));
  // Only in-dialog (a To tag): an initial request's Request-URI is the caller's to choose.
  if (msg.to()?.params.get('tag') == null) return undefined;
  return workerOfParam(msg.requestUri()?.params.get('w'));
}
