import { isDigit, isToken, isWsp } from '../chars.js';
import { fail, ok, type Result } from '../result.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** `CSeq: 1*DIGIT LWS Method`; the number must stay below 2**31 (RFC 3261 §8.1.1.5). */
export function parseCSeq(value: string): Result<CSeq> {
  let p = 0;
  const len = value.length;
  while (p < len && isWsp(value.charCodeAt(p))) p++;
  const start = p;
  while (p < len && isDigit(value.charCodeAt(p))) p++;
  if (p === start || p - start > 10) return fail('bad CSeq number');
  const seq = Number(value.slice(start, p));
  if (seq > 0x7fffffff) return fail('CSeq number too large');
  if (p >= len || !isWsp(value.charCodeAt(p))) return fail('missing CSeq method');
  while (p < len && isWsp(value.charCodeAt(p))) p++;
  const method = value.slice(p).trimEnd();
  if (!isToken(method)) return fail('bad CSeq method');
  return ok({ seq, method });
}

export function formatCSeq(cseq: CSeq): string {
  return `${cseq.seq} ${cseq.method}`;
}
