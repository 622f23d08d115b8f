import { HeaderList, type HeaderField } from './headers.js';
import { newTag } from './ids.js';
import { SipResponse, type SipRequest } from './message.js';
import { reasonPhrase } from './status.js';

export interface ResponseOptions {
  /** To tag to add when the request has none; a random one otherwise. */
  toTag?: string;
  /** Extra header fields, in order (e.g. `['Retry-After', '30']`). */
  headers?: ReadonlyArray<readonly [name: string, value: string]>;
}

/** Headers copied from the request into every response, in this order (RFC 3261 §8.2.6.2). */
const COPIED = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/**
 * Build a response to `req`: every Via (same order), From, To, Call-ID and
 * CSeq copied; a To tag added when the request had none and status > 100
 * (RFC 3261 §8.2.6.2); Content-Length 0. Fields are copied as received so the
 * response matches the request byte for byte where it must.
 */
export function createResponse(req: SipRequest, status: number, reason?: string, options: ResponseOptions = {}): SipResponse {
  const fields: HeaderField[] = [];
  for (const name of COPIED) {
    for (const f of req.headers.fields) {
      if (f.name !== name) continue;
      if (name === 'to' && status > 100 && !hasToTag(req)) {
        fields.push({ name: f.name, rawName: f.rawName, value: `${f.value};tag=${options.toTag ?? newTag()}` });
      } else fields.push(f);
      if (name !== 'via') break;
    }
  }
  const headers = new HeaderList(fields);
  for (const [name, value] of options.headers ?? []) headers.append(name, value);
  headers.append('content-length', '0');
  return new SipResponse(status, reason ?? reasonPhrase(status), headers);
}

function hasToTag(req: SipRequest): boolean {
  const to = req.to();
  if (to !== undefined) return to.params.has('tag');
  // An unparsable To: look for the parameter textually rather than add a second tag.
  return /;\s*tag\s*=/i.test(req.headers.get('to') ?? '');
}
