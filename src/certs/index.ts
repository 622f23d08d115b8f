/** TLS certificates: load the configured pair or generate a self-signed one; renew it from disk without a restart. */
export { ensureCertificate, checkPair, CertificateError, type EnsureCertificateOptions, type CertificatePair } from './self-signed.js';
export { CertificateRenewal, RENEWAL_DEBOUNCE_MS, type CertificateRenewalOptions, type CertificateSource, type RenewalOutcome } from './certificate-renewal.js';
