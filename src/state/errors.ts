/**
 * Errors the state store raises, each with a stable code so callers can map
 * them (a request whose state cannot be stored or read ends with 500 from us).
 */

/** An operation was attempted after `close()`. */
export class StateStoreClosedError extends Error {
  readonly code = 'SBC_ERR_STATE_CLOSED' as const;
  constructor(operation: string) {
    super(`state store is closed (${operation} after close())`);
    this.name = 'StateStoreClosedError';
  }
}

/** A key holds another kind of value than the operation expects (hash vs string, non-integer counter). */
export class StateWrongTypeError extends Error {
  readonly code = 'SBC_ERR_STATE_WRONG_TYPE' as const;
  constructor(key: string, expected: string) {
    super(`state key "${key}" does not hold ${expected}`);
    this.name = 'StateWrongTypeError';
  }
}

/** The configured store cannot be reached (Redis down or not answering) or is not a known kind. */
export class StateStoreUnavailableError extends Error {
  readonly code = 'SBC_ERR_STATE_UNAVAILABLE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'StateStoreUnavailableError';
  }
}
