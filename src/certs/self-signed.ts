/**
 * TLS material for the tls and wss listeners: the configured pair when it
 * exists, else a self-signed one generated on first start so that
 * `npm start` serves WSS out of the box.
 */
import { createPrivateKey, generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { isHostOrIp, isUnspecifiedAddress } from '../config/net-formats.js';
import { SbcError } from '../errors.js';
import type { Logger } from '../log/logger.js';

const generateKeyPairAsync = promisify(generateKeyPair);

const VALIDITY_MS = 365 * 24 * 3600 * 1000;
/** Names every generated certificate carries, so local browsers and tests can connect. */
const BUILT_IN_HOSTS = ['localhost', '127.0.0.1', '::1'];

export interface EnsureCertificateOptions {
  certFile: string;
  keyFile: string;
  /** Advertised hosts and IPs to add as subjectAltName entries when generating; unspecified addresses (0.0.0.0, ::) are skipped. */
  hosts: readonly string[];
  logger: Logger;
}

export interface CertificatePair {
  /** PEM certificate (chain). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** True when this call generated the pair. */
  generated: boolean;
}

/** The configured files cannot be used; nothing was written. */
export class CertificateError extends SbcError {
  readonly certFile: string;
  readonly keyFile: string;
  /** Which of the two files is at fault, when one is. */
  readonly file: 'cert' | 'key' | undefined;

  constructor(message: string, certFile: string, keyFile: string, options?: { cause?: unknown; file?: 'cert' | 'key' }) {
    super('SBC_ERR_CERT', message, options);
    this.name = 'CertificateError';
    this.certFile = certFile;
    this.keyFile = keyFile;
    this.file = options?.file;
  }
}

type FileState = { state: 'read'; text: string } | { state: 'missing' } | { state: 'unreadable'; error: NodeJS.ErrnoException };

/**
 * Return the pair at certFile/keyFile, generating a self-signed one (RSA 2048,
 * one year) when both are missing. Exactly one missing, or either unreadable
 * or invalid, is a CertificateError: a half-configured pair is the user's, and
 * is never overwritten.
 */
export async function ensureCertificate(options: EnsureCertificateOptions): Promise<CertificatePair> {
  const { certFile, keyFile } = options;
  const [cert, key] = await Promise.all([readState(certFile), readState(keyFile)]);

  if (cert.state === 'read' && key.state === 'read') {
    checkPair(cert.text, key.text, certFile, keyFile);
    return { cert: cert.text, key: key.text, generated: false };
  }
  if (cert.state === 'missing' && key.state === 'missing') return generate(options);

  for (const [file, state, other] of [
    [certFile, cert, keyFile],
    [keyFile, key, certFile],
  ] as const) {
    if (state.state === 'unreadable') {
      throw new CertificateError(`cannot read ${file}: ${state.error.code ?? state.error.message}`, certFile, keyFile, { cause: state.error });
    }
    if (state.state === 'missing') {
      throw new CertificateError(`${file} is missing but ${other} exists; provide both files, or remove both to have a self-signed pair generated`, certFile, keyFile);
    }
  }
  // Unreachable: every mixed case threw above.
  throw new CertificateError('certificate files unusable', certFile, keyFile);
}

async function readState(file: string): Promise<FileState> {
  try {
    return { state: 'read', text: await readFile(file, 'utf8') };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? { state: 'missing' } : { state: 'unreadable', error: e };
  }
}

/** The leaf certificate of a PEM pair whose key matches it; a CertificateError naming the file at fault otherwise. */
export function checkPair(certPem: string, keyPem: string, certFile: string, keyFile: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    throw new CertificateError(`${certFile} is not a PEM certificate: ${(error as Error).message}`, certFile, keyFile, { cause: error, file: 'cert' });
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (error) {
    throw new CertificateError(`${keyFile} is not an unencrypted PEM private key: ${(error as Error).message}`, certFile, keyFile, { cause: error, file: 'key' });
  }
  if (!matches) throw new CertificateError(`${keyFile} does not belong to the certificate in ${certFile}`, certFile, keyFile, { file: 'key' });
  return cert;
}

async function generate(options: EnsureCertificateOptions): Promise<CertificatePair> {
  const { certFile, keyFile, logger } = options;
  const hosts = sanHosts(options.hosts);

  // Node generates the RSA key natively (pure-JS forge would take seconds); forge builds and signs the certificate.
  const { privateKey: keyPem } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const certPem = buildCertificate(keyPem, hosts);

  await mkdir(dirname(keyFile), { recursive: true });
  await mkdir(dirname(certFile), { recursive: true });
  // 'wx': never replace a file another process created meanwhile.
  try {
    await writeFile(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
    await chmod(keyFile, 0o600);
  } catch (error) {
    throw new CertificateError(`cannot write ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, certFile, keyFile, { cause: error });
  }
  try {
    await writeFile(certFile, certPem, { mode: 0o644, flag: 'wx' });
    // The umask may have removed read bits that TLS tooling expects.
    await chmod(certFile, 0o644);
  } catch (error) {
    // Leave no half pair behind: it would block the next start.
    await unlink(keyFile).catch(() => undefined);
    throw new CertificateError(`cannot write ${certFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, certFile, keyFile, { cause: error });
  }

  logger.info({ certFile, hosts }, 'generated self-signed certificate');
  return { cert: certPem, key: keyPem, generated: true };
}

/** Built-in names plus the advertised ones, without brackets, duplicates or unspecified addresses. */
function sanHosts(advertised: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of [...BUILT_IN_HOSTS, ...advertised]) {
    const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    if (host === '' || isUnspecifiedAddress(host) || !isHostOrIp(host)) continue;
    const key = host.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(host);
  }
  return out;
}

function buildCertificate(keyPem: string, hosts: readonly string[]): string {
  const privateKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  // Backdated a minute so a peer whose clock is slightly behind accepts it.
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + VALIDITY_MS);
  const name = [
    { name: 'commonName', value: 'localhost' },
    { name: 'organizationName', value: 'webrtc-sbc self-signed' },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    // GeneralName types: 2 = dNSName, 7 = iPAddress (RFC 5280 §4.2.1.6).
    { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) !== 0 ? { type: 7, ip: h } : { type: 2, value: h })) },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** 16 random bytes as a positive DER INTEGER without a redundant leading zero (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}
