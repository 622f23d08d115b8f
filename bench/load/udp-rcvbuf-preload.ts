/**
 * What-if experiment, never part of a default run: preloaded into the SBC
 * (`node --import .../udp-rcvbuf-preload.js`), it gives every UDP socket the
 * process creates a larger kernel receive buffer (BENCH_UDP_RCVBUF bytes,
 * capped by net.core.rmem_max), to measure what that change to
 * src/transport/udp.ts would buy before its owner makes it.
 */
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';

const bytes = Number(process.env.BENCH_UDP_RCVBUF ?? 0);
if (bytes > 0) {
  const original = dgram.createSocket;
  const patched = (options: dgram.SocketType | dgram.SocketOptions, listener?: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): dgram.Socket => {
    const o: dgram.SocketOptions = typeof options === 'string' ? { type: options } : { ...options };
    o.recvBufferSize ??= bytes;
    return original(o, listener);
  };
  dgram.createSocket = patched as typeof dgram.createSocket;
  // ES module imports of node:dgram see the patched function too.
  syncBuiltinESMExports();
}
