/**
 * `routing.http`: the routing decision from an HTTP service. The request is
 * POSTed as JSON (script/types.ts RoutingRequestJson); 204, `null` or `{}`
 * mean the usual routing, anything else is read as a decision.
 *
 * node:http with a keep-alive agent rather than fetch: the bench measured
 * fetch (undici behind WHATWG streams) at several times the CPU of a plain
 * request per decision, and this runs once per call. Connections are pooled
 * (up to 64 at once, idle ones kept 30 s).
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { RoutingRequestJson } from './script/types.js';

/** A service answer larger than this is not read (a decision is a few hundred bytes). */
const MAX_BODY_BYTES = 64 * 1024;
const MAX_SOCKETS = 64;
const IDLE_MS = 30_000;

export type HttpOutcome = { kind: 'value'; value: unknown } | { kind: 'error'; error: string } | { kind: 'timeout' };

export interface RoutingServiceOptions {
  url: string;
  timeoutMs: number;
}

export class RoutingService {
  readonly url: string;
  readonly timeoutMs: number;
  readonly #target: URL;
  readonly #agent: HttpAgent;
  readonly #send: typeof httpRequest;

  constructor(o: RoutingServiceOptions) {
    this.url = o.url;
    this.timeoutMs = o.timeoutMs;
    this.#target = new URL(o.url);
    const tls = this.#target.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 16, timeout: IDLE_MS, scheduling: 'lifo' as const };
    this.#agent = tls ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#send = tls ? (httpsRequest as typeof httpRequest) : httpRequest;
  }

  ask(request: RoutingRequestJson): Promise<HttpOutcome> {
    const body = JSON.stringify(request);
    return new Promise((resolve) => {
      let req: ClientRequest | undefined;
      let settled = false;
      const finish = (outcome: HttpOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        req?.destroy();
      }, this.timeoutMs);
      timer.unref();
      try {
        req = this.#send(this.#target, {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: 'application/json' },
        }, (res) => readAnswer(res, finish));
      } catch (err) {
        finish({ kind: 'error', error: (err as Error).message });
        return;
      }
      req.on('error', (err) => finish({ kind: 'error', error: err.message }));
      req.end(body);
    });
  }

  /** Close the pooled connections (the part stops). */
  close(): void {
    this.#agent.destroy();
  }
}

function readAnswer(res: IncomingMessage, finish: (o: HttpOutcome) => void): void {
  const status = res.statusCode ?? 0;
  if (status === 204 || status !== 200) {
    res.resume();
    finish(status === 204 ? { kind: 'value', value: undefined } : { kind: 'error', error: `HTTP ${status}` });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      finish({ kind: 'error', error: 'answer is too large' });
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  res.on('error', (err) => finish({ kind: 'error', error: err.message }));
  res.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      finish({ kind: 'value', value: undefined });
      return;
    }
    try {
      finish({ kind: 'value', value: JSON.parse(text) as unknown });
    } catch {
      finish({ kind: 'error', error: 'answer is not JSON' });
    }
  });
}
