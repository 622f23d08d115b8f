import { SbcError } from '../../errors.js';

/**
 * The engine answered `result: error` (or `load limit`, or something that is
 * not an ng reply). The session was not created or changed; retrying the same
 * request elsewhere would most likely fail the same way.
 */
export class NgError extends SbcError {
  /** The engine's `error-reason`, verbatim. */
  readonly reason: string;
  readonly command: string;
  readonly engine: string;

  constructor(engine: string, command: string, reason: string) {
    super('SBC_ERR_ENGINE_ERROR', `rtpengine ${engine} rejected ${command}: ${reason}`);
    this.name = 'NgError';
    this.reason = reason;
    this.command = command;
    this.engine = engine;
  }
}

/** No reply after every try; the engine may be down or overloaded. Maps to 503 (SBC_ERR_ENGINE_TIMEOUT). */
export class NgTimeoutError extends SbcError {
  readonly command: string;
  readonly engine: string;
  readonly tries: number;

  constructor(engine: string, command: string, tries: number, timeoutMs: number) {
    super('SBC_ERR_ENGINE_TIMEOUT', `rtpengine ${engine} did not answer ${command} (${tries} tries, ${timeoutMs} ms each)`);
    this.name = 'NgTimeoutError';
    this.command = command;
    this.engine = engine;
    this.tries = tries;
  }
}

/** The request could not be sent: client closed, too many requests in flight, or a message too large for the transport. */
export class NgUnavailableError extends Error {
  readonly engine: string;

  constructor(engine: string, message: string) {
    super(`rtpengine ${engine}: ${message}`);
    this.name = 'NgUnavailableError';
    this.engine = engine;
  }
}

/** The pool has no engine to ask: none configured, none up, or the call's engine is no longer configured. Maps to 503. */
export class NoEngineError extends SbcError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SBC_ERR_NO_ENGINE', message, options);
    this.name = 'NoEngineError';
  }
}
