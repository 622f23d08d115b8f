/**
 * Asks a Node process started with `--inspect` to collect garbage and report
 * its memory, over the inspector protocol (a WebSocket). This lets the bench
 * measure the SBC's live heap per flow, which RSS alone cannot show (RSS
 * keeps garbage and freed pages).
 */
import WebSocket from 'ws';

export interface MemoryFigures {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

/** A connection to the inspector of the process listening on `inspectPort`, and a way to call its methods. */
async function inspect(inspectPort: number): Promise<{ call: (method: string, params?: Record<string, unknown>) => Promise<unknown>; close: () => void }> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as Array<{ webSocketDebuggerUrl?: string }>;
  const url = list[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspectPort}`);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const mine = ++id;
      const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), 30_000);
      const onMessage = (data: WebSocket.RawData): void => {
        const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
        if (m.id !== mine) return;
        clearTimeout(timer);
        ws.off('message', onMessage);
        if (m.error !== undefined) reject(new Error(m.error.message));
        else resolve(m.result);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  return { call, close: () => ws.close() };
}

/** Full GC in the inspected process, then its process.memoryUsage(). */
export async function collectAndMeasure(inspectPort: number): Promise<MemoryFigures> {
  const { call, close } = await inspect(inspectPort);
  try {
    // Twice: the first pass can leave objects only the second finds unreachable (weak maps, finalizers).
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const result = (await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    const m = JSON.parse(result.result.value) as { rss: number; heapUsed: number; external: number; arrayBuffers: number };
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers };
  } finally {
    close();
  }
}

/** A V8 CPU profile of the inspected process over the next `ms` (what it does meanwhile, nothing before), as .cpuprofile JSON. */
export async function profileWindow(inspectPort: number, ms: number): Promise<string> {
  const { call, close } = await inspect(inspectPort);
  try {
    await call('Profiler.enable');
    await call('Profiler.start');
    await new Promise((r) => setTimeout(r, ms));
    const { profile } = (await call('Profiler.stop')) as { profile: unknown };
    return JSON.stringify(profile);
  } finally {
    close();
  }
}
