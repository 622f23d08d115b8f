/** TLS certificates: load the configured pair or generate a self-signed one. */
export { ensureCertificate, CertificateError, type EnsureCertificateOptions, type CertificatePair } from './self-signed.js';
