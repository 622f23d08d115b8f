// A quick probe of the embedded media relay's cost (not the full media bench):
// the SBC in this process (media.mode embedded), and in a child process N
// werift "browsers" calling an echoing plain-RTP UAS through it, 50 packets/s
// each way per call. Prints the SBC process's CPU (share of one core) over the
// window, per call, its RSS, and packets seen at both ends.
// Usage (as root, loopback-only namespace; after npm run build):
//   unshare -n sh -c 'ip link set lo up && node bench/embedded-cpu-probe.mjs CALLS SECONDS'
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/test/helpers/', import.meta.url);
const [role] = process.argv.slice(2);

if (role === 'generator') {
  const [, wsPort, uasPort, n, seconds] = process.argv.slice(2).map(Number);
  const { WeriftBrowser } = await import(new URL('werift-browser.js', dist).href);
  const { RtpUas } = await import(new URL('rtp-uas.js', dist).href);
  const { SipPeer, request, rand } = await import(new URL('sip-peer.js', dist).href);
  // RtpUas.start() takes a free port; the SBC was configured with this one.
  const uas = new RtpUas(await SipPeer.udp('127.0.0.1', uasPort), {});
  const ws = await SipPeer.ws(`ws://127.0.0.1:${wsPort}`);
  const browsers = [];
  for (let i = 0; i < n; i++) {
    const b = new WeriftBrowser();
    const callId = rand(8);
    ws.send(request({ method: 'INVITE', uri: 'sip:echo@example.com', sentBy: 'b.invalid', viaTransport: 'WS', callId, fromTag: 'br', body: await b.offer() }));
    const ok = await ws.next((r) => r.msg.kind === 'response' && r.msg.callId === callId && r.msg.status >= 200, 10_000);
    await b.accept(ok.msg.body.toString());
    browsers.push(b);
  }
  await Promise.all(browsers.map((b) => b.connected(30_000)));
  process.send({ up: n });
  const timer = setInterval(() => {
    for (const b of browsers) void b.sendAudio(1, 0, 0);
  }, 20);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  const browserGot = browsers.reduce((a, b) => a + b.totalReceived(0), 0);
  const uasGot = uas.calls().reduce((a, c) => a + c.media.audioPacketsReceived, 0);
  process.send({ intendedPerWay: n * seconds * 50, uasGot, browserGot });
  process.exit(0);
} else {
  const n = Number(process.argv[2] ?? 50);
  const seconds = Number(process.argv[3] ?? 10);
  const { startSbc } = await import(new URL('sbc.js', dist).href);
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const uasPort = s.address().port;
  s.close();
  const sbc = await startSbc({
    backends: { default: { probe: { intervalSeconds: 0 }, targets: [{ uri: `sip:127.0.0.1:${uasPort};transport=udp` }] } },
    media: { mode: 'embedded', embedded: { address: '127.0.0.1', ports: '30000-39999', maxSessions: 5000 } },
  });
  const rss0 = process.memoryUsage().rss;
  const child = fork(fileURLToPath(import.meta.url), ['generator', String(sbc.listener('ws').boundPort), String(uasPort), String(n), String(seconds)], { stdio: 'inherit' });
  let cpu0;
  let t0 = 0;
  child.on('message', async (m) => {
    if (m.up !== undefined) {
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      return;
    }
    const c = process.cpuUsage(cpu0);
    const core = (c.user + c.system) / 1000 / (performance.now() - t0);
    const rss = process.memoryUsage().rss;
    console.log(JSON.stringify({
      calls: n,
      seconds,
      sbcCorePercent: +(core * 100).toFixed(1),
      perCallCorePercent: +((core * 100) / n).toFixed(3),
      rssMB: Math.round(rss / 1e6),
      rssPerCallKB: Math.round((rss - rss0) / 1024 / n),
      sessions: sbc.server.embeddedMedia.snapshot().sessions,
      ...m,
    }));
    await sbc.stop();
    process.exit(0);
  });
}
