/**
 * The floor under the SBC's WSS figures: the least a Node process can do to
 * hold SIP-over-WSS clients and answer their REGISTERs. An https server with
 * the SBC's kind of certificate, `ws` without compression or client tracking,
 * subprotocol "sip", and a 200 OK made by swapping the request line of each
 * REGISTER (every other header kept, so the client finds its CSeq). No SIP
 * parsing, no UDP, no state per client: what TLS + WebSocket alone cost.
 *
 * Forked with --expose-gc, driven over IPC:
 *   on start   sends { port }
 *   { cmd: 'memory' }  full GC twice, answers { memory: MemoryFigures }
 * Run: wss-floor --cert FILE --key FILE
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { MemoryFigures } from './heap-probe.js';

const { values } = parseArgs({ options: { cert: { type: 'string' }, key: { type: 'string' } } });
if (values.cert === undefined || values.key === undefined) throw new Error('wss-floor needs --cert FILE --key FILE');
if (typeof gc !== 'function') throw new Error('wss-floor needs --expose-gc: its heap figures are taken after a full GC');

const REGISTER = Buffer.from('REGISTER ');
const OK_LINE = Buffer.from('SIP/2.0 200 OK');

// Shared listeners (`this` is the emitter), so a connection costs no closures of ours.
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  if (isBinary || !Buffer.isBuffer(data)) return;
  if (data.length < REGISTER.length || data.compare(REGISTER, 0, REGISTER.length, 0, REGISTER.length) !== 0) return;
  const eol = data.indexOf('\r\n');
  if (eol < 0) return;
  this.send(Buffer.concat([OK_LINE, data.subarray(eol)]), { binary: false });
}

function onWsError(this: WebSocket): void {
  this.terminate();
}

function onSocketError(this: Duplex): void {
  this.destroy();
}

function onConnection(ws: WebSocket): void {
  ws.on('message', onMessage);
  ws.on('error', onWsError);
}

const server = createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) });
const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', onSocketError);
  wss.handleUpgrade(req, socket, head, onConnection);
});
server.listen(0, '127.0.0.1', () => {
  const bound = server.address();
  process.send?.({ port: typeof bound === 'object' && bound !== null ? bound.port : 0 });
});

async function measure(): Promise<MemoryFigures> {
  // Twice, as the SBC's probe does: the second pass finds what the first left to finalizers.
  gc?.();
  await new Promise((r) => setImmediate(r));
  gc?.();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers };
}

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'memory') void measure().then((memory) => process.send?.({ memory }));
});
// The parent going away must not leave a listener behind.
process.on('disconnect', () => process.exit(0));
