/**
 * Dialog identifiers that travel inside headers (Replaces, RFC 3891; the
 * Replaces embedded in a Refer-To URI, RFC 3515 §2.1 / RFC 5589) name a
 * dialog as the sender's leg knows it. The far side only knows the other leg
 * of that call, so the Call-ID and both tags are swapped for that leg's.
 */

/** A dialog of ours as one side knows it, and the same call as the other side knows it. */
export interface DialogView {
  callId: string;
  localTag: string;
  remoteTag: string;
}

export interface DialogPair {
  /** The leg the identifiers came from. */
  leg: DialogView;
  /** The other leg of that call. */
  peer: DialogView & { remoteTarget: string };
}

/** Finds the leg with this Call-ID and one of our tags (undefined: not a dialog of ours). */
export type DialogLookup = (callId: string, tagA: string, tagB: string) => DialogPair | undefined;

/** Our tag on one leg stands for the party on the other: its tag there is the peer's remote tag, and vice versa. */
function mapTag(tag: string, pair: DialogPair): string {
  if (tag === pair.leg.localTag) return pair.peer.remoteTag;
  if (tag === pair.leg.remoteTag) return pair.peer.localTag;
  return tag;
}

/** `callid;to-tag=x;from-tag=y[;early-only]` with the identifiers of the other leg, or undefined when not ours. */
export function translateReplaces(value: string, lookup: DialogLookup): string | undefined {
  const parts = value.split(';').map((p) => p.trim());
  const callId = parts[0];
  if (callId === undefined || callId === '') return undefined;
  const params = parts.slice(1);
  const tagOf = (name: string): string => params.find((p) => p.toLowerCase().startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
  const pair = lookup(callId, tagOf('to-tag'), tagOf('from-tag'));
  if (pair === undefined) return undefined;
  const mapped = params.map((p) => {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).toLowerCase();
    if (name !== 'to-tag' && name !== 'from-tag') return p;
    return `${name}=${mapTag(p.slice(eq + 1), pair)}`;
  });
  return [pair.peer.callId, ...mapped].join(';');
}

/**
 * A Refer-To value with its embedded Replaces translated; when the target
 * URI is our own Contact on a leg (`isOurLegUri`), it becomes that call's
 * real party on the other side (its remote target).
 */
export function translateReferTo(value: string, lookup: DialogLookup, ourLegTarget: (uri: string) => string | undefined): string {
  const lt = value.indexOf('<');
  const gt = value.lastIndexOf('>');
  if (lt < 0 || gt < lt) return value;
  const uri = value.slice(lt + 1, gt);
  const q = uri.indexOf('?');
  let base = q < 0 ? uri : uri.slice(0, q);
  const headers = q < 0 ? [] : uri.slice(q + 1).split('&');
  const swapped = ourLegTarget(base);
  if (swapped !== undefined) base = swapped;
  const out = headers.map((h) => {
    const eq = h.indexOf('=');
    if (eq < 0 || h.slice(0, eq).toLowerCase() !== 'replaces') return h;
    let decoded: string;
    try {
      decoded = decodeURIComponent(h.slice(eq + 1));
    } catch {
      return h;
    }
    const translated = translateReplaces(decoded, lookup);
    return translated === undefined ? h : `${h.slice(0, eq)}=${escapeHeaderValue(translated)}`;
  });
  const rebuilt = out.length === 0 ? base : `${base}?${out.join('&')}`;
  return `${value.slice(0, lt + 1)}${rebuilt}${value.slice(gt)}`;
}

/** Escape a URI header value (RFC 3261 §25.1 hvalue: unreserved and a few marks stay). */
function escapeHeaderValue(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
