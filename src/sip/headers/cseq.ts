import type { Result } from '../result.js';

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(_value: string): Result<CSeq> {
  throw new Error('not implemented');
}
