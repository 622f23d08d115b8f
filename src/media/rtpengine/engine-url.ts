import { isIP } from 'node:net';

/**
 * Where an engine's ng control socket is: `udp:HOST:PORT`, `udp6:[IPv6]:PORT`
 * (Kamailio's `rtpengine_sock` spelling), or `ws://HOST:PORT[/path]` /
 * `wss://…` for rtpengine's `--listen-http(s)` WebSocket ng transport,
 * which carries SDPs larger than one UDP datagram.
 */
export type EngineAddress =
  | { transport: 'udp'; family: 4 | 6; host: string; port: number }
  | { transport: 'ws'; url: string };

/** Parse an engine URL; undefined when it is not one of the accepted forms. */
export function parseEngineUrl(text: string): EngineAddress | undefined {
  if (text.startsWith('ws://') || text.startsWith('wss://')) {
    if (!URL.canParse(text)) return undefined;
    const url = new URL(text);
    if (url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
    return { transport: 'ws', url: text };
  }
  const colon = text.indexOf(':');
  const scheme = text.slice(0, colon);
  if (scheme !== 'udp' && scheme !== 'udp6') return undefined;
  const rest = text.slice(colon + 1);
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return undefined;
    host = rest.slice(1, close);
    if (isIP(host) !== 6) return undefined;
    portText = rest.slice(close + 2);
  } else {
    const last = rest.lastIndexOf(':');
    if (last <= 0) return undefined;
    host = rest.slice(0, last);
    if (host.includes(':') || !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
    portText = rest.slice(last + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  const family = scheme === 'udp6' || isIP(host) === 6 ? 6 : 4;
  return { transport: 'udp', family, host, port };
}
