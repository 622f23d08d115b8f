/**
 * One end of a node IPC channel, as both sides see it: a cluster worker's
 * `process`, the primary's `cluster.Worker`, or a `child_process.fork()`
 * child. Only plain JSON values cross it (the default serialization).
 */
export interface IpcEndpoint {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
  /** False once the channel is closed (process.connected, worker.isConnected()). */
  readonly connected?: boolean;
}

/** This process's channel to its parent (the supervisor), or undefined when it has none. */
export function parentEndpoint(): IpcEndpoint | undefined {
  if (typeof process.send !== 'function') return undefined;
  return process as unknown as IpcEndpoint;
}

/** Send without throwing: a closed channel is reported through `onError` (and the return value). */
export function sendSafely(endpoint: IpcEndpoint, message: unknown, onError?: (error: Error) => void): boolean {
  try {
    return endpoint.send(message, (error) => {
      if (error) onError?.(error);
    });
  } catch (error) {
    onError?.(error as Error);
    return false;
  }
}

/** A message with `sbc: kind`, typed loosely: every field is checked where it is read. */
export function isSbcMessage(message: unknown, kind: string): message is Record<string, unknown> {
  return typeof message === 'object' && message !== null && (message as { sbc?: unknown }).sbc === kind;
}
