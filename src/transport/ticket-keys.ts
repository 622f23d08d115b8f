/**
 * TLS session-ticket keys every worker and node sharing the flow-token
 * secret agrees on, so a client whose connection lands on another worker
 * (connections are spread round-robin) or node still resumes its session.
 * The keys are derived per period from the secret and change at each
 * period boundary (tickets of the last period then need a full handshake),
 * so a ticket cannot be decrypted with keys older than a period.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:tls';

/** How long one set of ticket keys is used. */
export const TICKET_KEY_PERIOD_MS = 12 * 3600 * 1000;

/** The key ticket keys are derived from (FlowTokens.derivedKey). */
export const TICKET_KEY_PURPOSE = 'tls-ticket-keys';

/** The 48 bytes node:tls wants (name, AES key, HMAC key) for period `period`, from `key`. */
export function ticketKeys(key: Buffer, period: number): Buffer {
  const base = createHmac('sha256', key).update(`period:${period}`).digest();
  return Buffer.concat([base, createHmac('sha256', base).update('2').digest().subarray(0, 16)]);
}

/** Give `server` the keys of the current period and each next one until it closes. */
export function shareTicketKeys(server: Server, key: Buffer, now: () => number = Date.now): void {
  let timer: NodeJS.Timeout | undefined;
  const apply = (): void => {
    const period = Math.floor(now() / TICKET_KEY_PERIOD_MS);
    server.setTicketKeys(ticketKeys(key, period));
    // A moment past the boundary, so every worker's clock has crossed it too.
    timer = setTimeout(apply, (period + 1) * TICKET_KEY_PERIOD_MS - now() + 1000);
    timer.unref();
  };
  apply();
  server.once('close', () => clearTimeout(timer));
}
