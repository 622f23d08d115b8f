/**
 * The error catalogue: stable codes users can search for, and for errors that
 * surface in SIP, the status each maps to.
 */
export const ERROR_CODES = {
  SBC_ERR_CONFIG_KEY: { status: undefined, text: 'invalid configuration' },
  SBC_ERR_CERT: { status: undefined, text: 'certificate files unusable' },
  SBC_ERR_LISTEN: { status: undefined, text: 'a listener could not be started' },
  SBC_ERR_STATE_STORE: { status: undefined, text: 'state store unavailable' },
  SBC_ERR_NO_BACKEND: { status: 503, text: 'no backend available' },
  SBC_ERR_FLOW_GONE: { status: 430, text: 'flow failed' },
  SBC_ERR_FLOW_TOKEN: { status: 403, text: 'invalid flow token' },
  SBC_ERR_TRANSPORT: { status: 503, text: 'transport error' },
  SBC_ERR_TIMEOUT: { status: 408, text: 'request timeout' },
  SBC_ERR_OVERLOAD: { status: 503, text: 'overloaded' },
  SBC_ERR_ENGINE_TIMEOUT: { status: 503, text: 'media engine did not answer' },
  SBC_ERR_ENGINE_ERROR: { status: 500, text: 'media engine rejected the request' },
  SBC_ERR_NO_ENGINE: { status: 503, text: 'no media engine available' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SbcError extends Error {
  readonly code: ErrorCode;
  /** SIP status this error maps to when it ends a request, if any. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SbcError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
  }
}

/**
 * A request refused on our side while it was being forwarded (no media
 * engine, say): it ends with `status`, and the backend is not blamed for it.
 */
export class RequestRejection extends Error {
  readonly status: number;

  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RequestRejection';
    this.status = status;
  }
}
