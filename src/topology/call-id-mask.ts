import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/** Marks a masked Call-ID (Kamailio topoh writes `!!:`; `!` is a legal word character, RFC 3261 §25.1). */
const PREFIX = '!!';
const IV_BYTES = 16;
/** Longest Call-ID we mask or try to unmask; anything longer passes untouched. */
const MAX_CALL_ID_CHARS = 512;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Reversible, deterministic Call-ID masking (SIV-like): the IV is
 * HMAC(secret, Call-ID)[0..16] and the Call-ID is AES-256-CTR-encrypted under
 * it; the mask is `!!` + base64url(IV ‖ ciphertext). Deterministic, so every
 * message of a dialog gets the same mask and no state is needed to undo it;
 * the IV doubles as the MAC, so a Call-ID a client made up never "unmasks".
 */
export class CallIdMask {
  readonly #encKey: Buffer;
  readonly #macKey: Buffer;

  constructor(secret: string | Buffer) {
    const s = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    // Separate keys for the cipher and the MAC, derived from the one secret.
    this.#encKey = createHmac('sha256', s).update('call-id-mask:enc').digest();
    this.#macKey = createHmac('sha256', s).update('call-id-mask:mac').digest();
  }

  /** Is this Call-ID one of our masks (by shape; `unmask` verifies it)? */
  static looksMasked(callId: string): boolean {
    return callId.startsWith(PREFIX);
  }

  mask(callId: string): string {
    if (callId.length > MAX_CALL_ID_CHARS) return callId;
    const plain = Buffer.from(callId, 'utf8');
    const iv = createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, IV_BYTES);
    const cipher = createCipheriv('aes-256-ctr', this.#encKey, iv);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return PREFIX + Buffer.concat([iv, body]).toString('base64url');
  }

  /** The original Call-ID, or undefined when `masked` is not a mask of ours. */
  unmask(masked: string): string | undefined {
    if (!masked.startsWith(PREFIX) || masked.length > 2 * MAX_CALL_ID_CHARS) return undefined;
    const text = masked.slice(PREFIX.length);
    if (!BASE64URL.test(text)) return undefined;
    const raw = Buffer.from(text, 'base64url');
    if (raw.length <= IV_BYTES) return undefined;
    const iv = raw.subarray(0, IV_BYTES);
    // CTR is its own inverse: "encrypting" the ciphertext under the same IV decrypts it.
    const decipher = createCipheriv('aes-256-ctr', this.#encKey, iv);
    const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES)), decipher.final()]);
    const expected = createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, IV_BYTES);
    if (!timingSafeEqual(expected, iv)) return undefined;
    return plain.toString('utf8');
  }
}
