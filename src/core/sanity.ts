import type { SipRequest } from '../sip/message.js';

/** Why a request is refused before routing, and the status it gets. */
export interface Rejection {
  status: number;
  reason: string;
  headers?: Record<string, string>;
}

/** Extensions we understand in Proxy-Require (none: we are a plain proxy). RFC 3261 §16.3 step 6. */
const SUPPORTED_PROXY_REQUIRE: ReadonlySet<string> = new Set();

/**
 * RFC 3261 §16.3 request validation, minus Max-Forwards 0 (the pipeline decides:
 * an OPTIONS to us may still be answered) and loop detection (needs our Vias).
 */
export function checkRequest(req: SipRequest): Rejection | undefined {
  if (req.requestUri() === undefined) return { status: 416, reason: 'Unsupported URI Scheme' };
  // The top Via is what routes the response; the rest of the chain is parsed only when needed.
  if (req.topVia() === undefined) return { status: 400, reason: 'Bad Via' };
  if (req.callId === undefined || req.callId.length === 0) return { status: 400, reason: 'Missing Call-ID' };
  const cseq = req.cseq();
  if (cseq === undefined) return { status: 400, reason: 'Bad CSeq' };
  if (cseq.method !== req.method) return { status: 400, reason: 'CSeq Method Mismatch' };
  if (req.from() === undefined) return { status: 400, reason: 'Bad From' };
  if (req.to() === undefined) return { status: 400, reason: 'Bad To' };
  if (req.headers.has('max-forwards') && req.maxForwards() === undefined) return { status: 400, reason: 'Bad Max-Forwards' };
  if (req.routes() === undefined) return { status: 400, reason: 'Bad Route' };
  if (req.method !== 'REGISTER' && req.contacts() === undefined && req.headers.has('contact')) {
    return { status: 400, reason: 'Bad Contact' };
  }
  const unsupported = req.optionTags('proxy-require').filter((t) => !SUPPORTED_PROXY_REQUIRE.has(t));
  if (unsupported.length > 0) return { status: 420, reason: 'Bad Extension', headers: { Unsupported: unsupported.join(', ') } };
  return undefined;
}
