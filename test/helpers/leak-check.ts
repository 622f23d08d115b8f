/**
 * Leak check for topology hiding, shared by proxy and B2BUA tests: capture
 * every byte the SBC sent to the outside parties (scripted SIP peers, and
 * browsers' WebSocket frames), then search it for what must stay inside:
 * inside IP addresses, ports (written `:PORT`), backend Call-IDs, backend
 * Contact users and hosts, inside-only header values.
 */
import type { Page, WebSocket as PwWebSocket } from 'playwright-core';
import type { SipPeer } from './sip-peer.js';

/** One message an outside party received. */
export interface CapturedMessage {
  /** Which party received it (the label given to `watchPeer` / `watchPage`). */
  party: string;
  raw: string;
}

/** One forbidden string found in one captured message. */
export interface LeakHit {
  party: string;
  forbidden: string;
  /** The message's first line, e.g. `SIP/2.0 200 OK` or `BYE sip:… SIP/2.0`. */
  firstLine: string;
  /** The line of the message the string was found on. */
  line: string;
}

/** Collects what the outside parties received. */
export class LeakCapture {
  readonly #peers: Array<{ party: string; peer: SipPeer }> = [];
  readonly #frames: CapturedMessage[] = [];

  /** A scripted peer: its `received` list (raw text) is read at check time. */
  watchPeer(party: string, peer: SipPeer): void {
    this.#peers.push({ party, peer });
  }

  /** A browser page: every WebSocket frame it receives from now on. */
  watchPage(party: string, page: Page): void {
    page.on('websocket', (ws: PwWebSocket) => {
      ws.on('framereceived', (frame) => {
        const payload = typeof frame.payload === 'string' ? frame.payload : frame.payload.toString('utf8');
        this.#frames.push({ party, raw: payload });
      });
    });
  }

  /** Everything captured so far. */
  messages(): CapturedMessage[] {
    const out: CapturedMessage[] = [];
    for (const { party, peer } of this.#peers) for (const r of peer.received) out.push({ party, raw: r.raw });
    out.push(...this.#frames);
    return out;
  }

  /** Every occurrence of a forbidden string in what was captured. */
  leaks(forbidden: readonly string[]): LeakHit[] {
    return findLeaks(this.messages(), forbidden);
  }
}

/**
 * Search messages for forbidden strings (case-insensitive). A string that
 * starts or ends with a digit does not match inside a longer number, so
 * `127.0.0.2` does not hit `127.0.0.25` and `:5080` does not hit `:50801`.
 */
export function findLeaks(messages: readonly CapturedMessage[], forbidden: readonly string[]): LeakHit[] {
  const patterns = forbidden.filter((f) => f.length > 0).map((f) => ({ f, re: patternFor(f) }));
  const hits: LeakHit[] = [];
  for (const m of messages) {
    const lines = m.raw.split(/\r?\n/);
    const firstLine = lines[0] ?? '';
    for (const line of lines) {
      for (const { f, re } of patterns) {
        if (re.test(line)) hits.push({ party: m.party, forbidden: f, firstLine, line });
      }
    }
  }
  return hits;
}

/** A readable report of hits for an assertion message. */
export function describeLeaks(hits: readonly LeakHit[]): string {
  return hits.map((h) => `${h.party}: "${h.forbidden}" in [${h.firstLine}] at: ${h.line}`).join('\n');
}

function patternFor(text: string): RegExp {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const before = /^\d/.test(text) ? '(?<![0-9])' : '';
  const after = /\d$/.test(text) ? '(?![0-9])' : '';
  return new RegExp(before + escaped + after, 'i');
}
