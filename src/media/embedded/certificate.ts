/**
 * The relay's one DTLS certificate (ECDSA P-256, SHA-256), made once at
 * start-up and shared by every browser leg: a certificate per peer would
 * cost a key generation per call.
 */
import { createSelfSignedCertificate, RTCCertificate } from 'werift';

/** werift's codes: SignatureAlgorithm.ecdsa_3, HashAlgorithm.sha256_4, NamedCurveAlgorithm.secp256r1_23. */
const ECDSA = 3;
const SHA256 = 4;
const P256 = 23;

export async function createRelayCertificate(): Promise<RTCCertificate> {
  const { certPem, keyPem, signatureHash } = await createSelfSignedCertificate({ signature: ECDSA, hash: SHA256 }, P256);
  return new RTCCertificate(keyPem, certPem, signatureHash);
}
