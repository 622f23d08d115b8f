import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { ProbeFunction } from '../../../../src/routing/index.js';
import { parseMessage } from '../../../../src/sip/parser.js';

/**
 * A minimal probe for tests: one OPTIONS over UDP from a fresh connected
 * socket; the first SIP response's status is the outcome. On a connected UDP
 * socket an ICMP port-unreachable surfaces as an error, i.e. a dead backend.
 */
export const udpOptionsProbe: ProbeFunction = (target, method, timeoutMs) =>
  new Promise((resolve) => {
    const socket = createSocket(target.address?.includes(':') ? 'udp6' : 'udp4');
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: Awaited<ReturnType<ProbeFunction>>): void => {
      clearTimeout(timer);
      socket.removeAllListeners('message');
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(outcome);
    };
    socket.on('error', (err) => finish({ kind: 'error', message: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.on('message', (data) => {
      const parsed = parseMessage(data);
      if (parsed.ok && parsed.value.kind === 'response') finish({ kind: 'response', status: parsed.value.status });
    });
    timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    socket.connect(target.port, target.address ?? target.host, () => {
      const local = socket.address();
      const tag = randomBytes(4).toString('hex');
      const text = [
        `${method} sip:${target.host}:${target.port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${local.address}:${local.port};branch=z9hG4bK${tag}`,
        'Max-Forwards: 70',
        `From: <sip:probe@${local.address}>;tag=${tag}`,
        `To: <sip:${target.host}:${target.port}>`,
        `Call-ID: ${tag}@probe`,
        `CSeq: 1 ${method}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(text);
    });
  });
