/**
 * GET /gateway.json on the page's HTTPS listener: what the softphone page
 * needs to pre-fill itself (web/gateway-defaults.ts). A gateway that is its
 * own registrar names the domain to register in — the host the page was
 * opened by when it is one of ours, else our first domain — and (once
 * there are built-in services) what can be called.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const GATEWAY_INFO_PATH = '/gateway.json';

export interface GatewayInfoSource {
  registrar: 'local' | 'path';
  /** Local mode: is this one of our domains? */
  isLocalDomain?(host: string): boolean;
  /** Local mode: the domain offered when the page's host is not one of ours. */
  defaultDomain?: () => string | undefined;
  services?: () => Array<{ name: string; number: string }>;
}

export function gatewayInfoHandler(source: GatewayInfoSource): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const body: Record<string, unknown> = { registrar: source.registrar };
    if (source.registrar === 'local') {
      const host = hostOf(req.headers.host);
      body.domain = host !== undefined && source.isLocalDomain?.(host) === true ? host : source.defaultDomain?.();
      const services = source.services?.() ?? [];
      if (services.length > 0) body.services = services;
    }
    const payload = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : payload);
  };
}

/** The host of a Host header, without port; IPv6 without brackets. */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 255) return undefined;
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(header) ?? /^([A-Za-z0-9.-]+)(?::\d+)?$/.exec(header);
  return m?.[1]?.toLowerCase();
}
