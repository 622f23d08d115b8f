/**
 * The certificate, key and protocol settings every TLS and WSS listener
 * serves. A listener swaps them with setSecureContext: connections opened
 * afterwards get the new pair, open connections keep the one they shook
 * hands with.
 */
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';

export interface TlsCredentials {
  /** PEM certificate (chain). */
  cert: string | Buffer;
  /** PEM private key. */
  key: string | Buffer;
  /** @default "TLSv1.2" */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; absent = Node's default. */
  ciphers?: string;
}

/** The secure-context part of tls.createServer()'s options. */
export function secureContextOptions(c: TlsCredentials): SecureContextOptions {
  return { cert: c.cert, key: c.key, minVersion: c.minVersion ?? 'TLSv1.2', ...(c.ciphers !== undefined ? { ciphers: c.ciphers } : {}) };
}

/** A listener whose TLS server can take new credentials. */
export interface TlsCredentialsHolder {
  setCredentials(credentials: TlsCredentials): void;
}

/** Swap the server's context; throws (and keeps the old one) when OpenSSL refuses the new one. */
export function applyCredentials(server: TlsServer, credentials: TlsCredentials): void {
  // A new context comes with random ticket keys: keep the shared ones, so sessions still resume on every worker and node.
  const ticketKeys = server.getTicketKeys();
  server.setSecureContext(secureContextOptions(credentials));
  server.setTicketKeys(ticketKeys);
}
