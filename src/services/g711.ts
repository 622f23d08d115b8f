/**
 * G.711 encoders (ITU-T G.711): 16-bit linear PCM to µ-law (PCMU, payload
 * type 0) and A-law (PCMA, 8). The tone service encodes its sine with them;
 * the relay itself never transcodes.
 */

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** One linear sample (-32768..32767) as a µ-law byte. */
export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** One linear sample (-32768..32767) as an A-law byte (even bits inverted, 0x55). */
export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample))) >> 3;
  let sign = 0x80;
  if (s < 0) {
    sign = 0;
    s = -s - 1;
  }
  let out: number;
  if (s < 32) out = s >> 1;
  else {
    let exponent = 1;
    while (s >= 64 << (exponent - 1) && exponent < 7) exponent++;
    out = (exponent << 4) | ((s >> exponent) & 0x0f);
  }
  return (sign | out) ^ 0x55;
}

/** µ-law byte back to linear (for tests and checks). */
export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return (u & 0x80) !== 0 ? -magnitude : magnitude;
}

/** A-law byte back to linear (for tests and checks). */
export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  let magnitude = (a & 0x0f) << 4;
  magnitude = exponent === 0 ? magnitude + 8 : (magnitude + 0x108) << (exponent - 1);
  return (a & 0x80) !== 0 ? magnitude : -magnitude;
}
