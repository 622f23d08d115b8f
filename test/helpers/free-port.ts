import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * A port in [low, high] free for both UDP and TCP on 127.0.0.1. Some real
 * tools mangle five-digit ports (sipsak writes `:4599` for `:45999`), so tests
 * that drive them ask for a four-digit one.
 */
export async function freePortInRange(low = 2000, high = 9999): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if ((await tcpFree(port)) && (await udpFree(port))) return port;
  }
  throw new Error(`no free port in ${low}-${high}`);
}

/** Whether 127.0.0.1:port can be bound on TCP right now. */
export function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Whether 127.0.0.1:port can be bound on UDP right now. */
export function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
