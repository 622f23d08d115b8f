import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SbcError } from '../errors.js';
import type { ListenerContext, ListenerState } from './listener.js';
import { StreamFlow } from './stream-connection.js';

/** Outbound TLS settings (toward backends). */
export interface StreamTlsClientOptions {
  /** Verify the peer's certificate chain and name. @default false (inside backends often run self-signed certificates) */
  rejectUnauthorized?: boolean;
  /** Trusted CAs when verifying. @default Node's bundled roots */
  ca?: string | Buffer | Array<string | Buffer>;
}

/**
 * Open a TCP or TLS connection to `address:port` and make it a flow of
 * `listener` (it can carry requests both ways). Times out after handshakeTimeoutMs.
 */
export function dialStream(
  transport: 'tcp' | 'tls',
  address: string,
  port: number,
  listener: ListenerState,
  ctx: ListenerContext,
  tlsClient: StreamTlsClientOptions,
): Promise<StreamFlow> {
  const target = `${transport} ${address.includes(':') ? `[${address}]` : address}:${port}`;
  return new Promise((resolve, reject) => {
    const localAddress = bindAddressFor(listener, address);
    const socket: Socket = transport === 'tls'
      ? tlsConnect({
        host: address,
        port,
        ...(localAddress !== undefined ? { localAddress } : {}),
        // SNI only carries names (RFC 6066 §3).
        ...(isIP(address) === 0 ? { servername: address } : {}),
        rejectUnauthorized: tlsClient.rejectUnauthorized ?? false,
        ...(tlsClient.ca !== undefined ? { ca: tlsClient.ca } : {}),
        minVersion: 'TLSv1.2',
      })
      : netConnect({ host: address, port, ...(localAddress !== undefined ? { localAddress } : {}) });
    const timer = setTimeout(() => fail(new Error(`no connection within ${ctx.limits.handshakeTimeoutMs} ms`)), ctx.limits.handshakeTimeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new SbcError('SBC_ERR_TRANSPORT', `cannot connect to ${target}: ${err.message}`, { cause: err }));
    };
    socket.once('error', fail);
    socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      if (!listener.up) {
        socket.destroy();
        reject(new SbcError('SBC_ERR_TRANSPORT', `cannot connect to ${target}: listener ${listener.label} stopped`));
        return;
      }
      const flow = new StreamFlow({ listener, socket, ctx, inbound: false });
      ctx.flows.add(flow);
      ctx.logger.debug({ flow: flow.id, target }, 'connected');
      resolve(flow);
    });
  });
}

/** Leave from the listener's address when it is a specific one of the target's family. */
function bindAddressFor(listener: ListenerState, target: string): string | undefined {
  if (listener.address === '0.0.0.0' || listener.address === '::') return undefined;
  const family = isIP(target);
  if (family === 0) return undefined;
  return (family === 6) === (listener.family === 'IPv6') ? listener.address : undefined;
}
