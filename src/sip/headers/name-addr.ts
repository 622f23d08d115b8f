import type { Result } from '../result.js';
import type { Params, SipUri } from '../uri.js';

/** name-addr / addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path). */
export interface NameAddr {
  display?: string;
  uri: SipUri;
  params: Params;
  /** Whether the URI was written in <...> (params after an addr-spec belong to the header). */
  angle: boolean;
}

/** Parse one name-addr value. */
export function parseNameAddr(_value: string): Result<NameAddr> {
  throw new Error('not implemented');
}

/** Always writes the URI inside <...>. */
export function formatNameAddr(_na: NameAddr): string {
  throw new Error('not implemented');
}
