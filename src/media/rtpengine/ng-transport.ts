/**
 * How one ng message travels to one engine and replies come back. The client
 * owns cookies, timers and retransmission; a transport only moves whole
 * messages (one datagram or one WebSocket message each, [ng]).
 */
export interface NgTransport {
  /** Largest message this transport can carry (a UDP datagram's payload, for UDP). */
  readonly maxMessageBytes: number;
  /** Best effort: a lost message is covered by the client's retransmission. */
  send(message: Buffer): void;
  /** The client gave up on this request (timed out): stop resending or queueing it. */
  cancel?(message: Buffer): void;
  /** Idempotent; no message is delivered after it. */
  close(): void;
}

/** Receives every whole message the engine sends. */
export type NgMessageSink = (message: Buffer) => void;

/** Reports a transport problem worth a log line (the client keeps going). */
export type NgTransportErrorSink = (error: Error) => void;
