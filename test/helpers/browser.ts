/**
 * Debian's Chromium driven by playwright-core, running the real softphone page
 * (web/) through its `window.softphone` hook (PEERS.md, "Chromium +
 * playwright-core + SIP.js"). Never a downloaded browser: /usr/bin/chromium
 * or a failure that names the package.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { CallQuality } from '../../web/call-quality.js';
import { repoRoot } from './paths.js';

// web/phone.ts needs the DOM lib, which the Node tests do not load: these mirror its
// exported AccountOptions and PhoneState.
export interface SoftphoneAccount {
  server: string;
  aor: string;
  authUser?: string;
  password?: string;
  displayName?: string;
}
export type PhoneState = 'idle' | 'connecting' | 'registered' | 'unregistered' | 'reconnecting' | 'calling' | 'ringing' | 'in call' | 'ended';

/** The page's `window.softphone` (web/app.ts), as seen from inside `page.evaluate`. */
interface HookHost {
  softphone: {
    state(): PhoneState;
    register(account: SoftphoneAccount): Promise<void>;
    call(target: string): Promise<void>;
    answer(): Promise<void>;
    hangup(): Promise<void>;
    hold(on: boolean): Promise<void>;
    restartIce(): Promise<{ local: [string, string]; remote: [string, string] }>;
    mute(on: boolean): void;
    dtmf(tone: string): void;
    stats(): Promise<CallQuality>;
  };
}

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where failure screenshots and console logs go (git-ignored). */
export const ARTIFACTS_DIR = join(repoRoot, 'test-output', 'e2e');

/** A desktop window, also the size of docs/softphone.png. */
export const DESKTOP_VIEWPORT = { width: 1280, height: 800 } as const;

const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Energy stays 0 unless the remote track is played, and no click precedes play() here.
  '--autoplay-policy=no-user-gesture-required',
  // The SBC's WSS and HTTPS run on a self-signed certificate.
  '--ignore-certificate-errors',
];

/** Console lines kept per page: enough for a failure report, bounded for a long run. */
const MAX_CONSOLE_LINES = 2000;
const POLL_MS = 250;

/** Starts headless Chromium; fails (never skips) when the Debian package is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install the Debian package "chromium" (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: LAUNCH_ARGS });
}

/** One softphone page in its own browser context (its own cookies, devices and WebSocket). */
export class SoftphonePage {
  readonly name: string;
  readonly page: Page;
  readonly #context: BrowserContext;
  readonly #console: string[] = [];
  #closed = false;

  private constructor(name: string, context: BrowserContext, page: Page) {
    this.name = name;
    this.#context = context;
    this.page = page;
    const keep = (line: string): void => {
      if (this.#console.length >= MAX_CONSOLE_LINES) this.#console.shift();
      this.#console.push(`${new Date().toISOString()} ${line}`);
    };
    page.on('console', (msg) => keep(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => keep(`[pageerror] ${err.stack ?? err.message}`));
    page.on('websocket', (ws) => {
      keep(`[websocket] open ${ws.url()}`);
      ws.on('close', () => keep(`[websocket] closed ${ws.url()}`));
    });
  }

  /** Opens `url` (the SBC's HTTPS page) and waits for the page's test hook. */
  static async open(browser: Browser, url: string, name: string): Promise<SoftphonePage> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP_VIEWPORT });
    try {
      const page = await context.newPage();
      const phone = new SoftphonePage(name, context, page);
      await page.goto(url);
      await page.waitForFunction(() => typeof (globalThis as unknown as Partial<HookHost>).softphone === 'object');
      return phone;
    } catch (err) {
      await context.close().catch(() => undefined);
      throw err;
    }
  }

  /** The console, page errors and WebSocket opens/closes seen so far. */
  consoleLines(): readonly string[] {
    return this.#console;
  }

  /** What the status line shows, and its state attribute (which colours the dot). */
  async statusLine(): Promise<{ text: string; state: string }> {
    const status = this.page.locator('#status');
    return { text: (await status.textContent()) ?? '', state: (await status.getAttribute('data-state')) ?? '' };
  }

  state(): Promise<PhoneState> {
    return this.page.evaluate(() => (globalThis as unknown as HookHost).softphone.state());
  }

  /** Resolves once `window.softphone.state()` is `state`; the error names what the page shows instead. */
  async waitForState(state: PhoneState, timeoutMs = 10_000): Promise<void> {
    try {
      await this.page.waitForFunction((s) => (globalThis as unknown as HookHost).softphone.state() === s, state, { timeout: timeoutMs, polling: POLL_MS });
    } catch {
      const shown = await this.statusLine().catch(() => ({ text: '?', state: '?' }));
      throw new Error(`${this.name}: not "${state}" within ${timeoutMs} ms; the page shows [${shown.state}] "${shown.text}"`);
    }
  }

  register(account: SoftphoneAccount): Promise<void> {
    return this.page.evaluate((a) => (globalThis as unknown as HookHost).softphone.register(a), account);
  }

  call(target: string): Promise<void> {
    return this.page.evaluate((t) => (globalThis as unknown as HookHost).softphone.call(t), target);
  }

  answer(): Promise<void> {
    return this.page.evaluate(() => (globalThis as unknown as HookHost).softphone.answer());
  }

  hangup(): Promise<void> {
    return this.page.evaluate(() => (globalThis as unknown as HookHost).softphone.hangup());
  }

  /** Hold (re-INVITE with sendonly) or resume; resolves when the far end accepted. */
  hold(on: boolean): Promise<void> {
    return this.page.evaluate((o) => (globalThis as unknown as HookHost).softphone.hold(o), on);
  }

  /** A re-INVITE with an ICE restart offer; resolves when the far end accepted, with the ICE usernames (page's, far end's) before and after. */
  restartIce(): Promise<{ local: [string, string]; remote: [string, string] }> {
    return this.page.evaluate(() => (globalThis as unknown as HookHost).softphone.restartIce());
  }

  mute(on: boolean): Promise<void> {
    return this.page.evaluate((o) => (globalThis as unknown as HookHost).softphone.mute(o), on);
  }

  /** One DTMF tone as RFC 4733 telephone-event, like a press on the page's dial pad. */
  dtmf(tone: string): Promise<void> {
    return this.page.evaluate((t) => (globalThis as unknown as HookHost).softphone.dtmf(t), tone);
  }

  stats(): Promise<CallQuality> {
    return this.page.evaluate(() => (globalThis as unknown as HookHost).softphone.stats());
  }

  /** Writes a PNG of the page as a user sees it. */
  async screenshot(path: string): Promise<void> {
    await this.page.screenshot({ path, fullPage: false });
  }

  /** Screenshot and console log into `dir`, named after `label`; returns the files written. */
  async saveArtifacts(dir: string, label: string): Promise<string[]> {
    const base = join(dir, `${label}-${this.name}`);
    const written: string[] = [];
    await writeFile(`${base}.console.log`, this.#console.join('\n') + '\n');
    written.push(`${base}.console.log`);
    if (!this.#closed) {
      await this.screenshot(`${base}.png`).then(() => written.push(`${base}.png`), () => undefined);
    }
    return written;
  }

  /** Closes the page's context (its WebSocket goes with it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#context.close().catch(() => undefined);
  }
}

/**
 * Runs `body`; when it throws, saves every page's screenshot and console into
 * {@link ARTIFACTS_DIR} and rethrows with the folder named in the message.
 */
export async function withFailureArtifacts(label: string, pages: () => readonly SoftphonePage[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const safe = label.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80);
    let where: string;
    try {
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      const files = (await Promise.all(pages().map((p) => p.saveArtifacts(ARTIFACTS_DIR, safe)))).flat();
      where = `screenshots and browser console saved: ${files.join(', ')}`;
    } catch (saveErr) {
      where = `saving screenshots failed too: ${(saveErr as Error).message}`;
    }
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\n${where}`, { cause: err });
  }
}

/** Two stats samples of one page that show audio arriving and being played. */
export interface AudioEvidence {
  before: CallQuality;
  after: CallQuality;
}

/**
 * Waits until `page` has received more audio packets AND more audio energy than
 * at the first sample, at least `windowMs` later (Chromium's fake microphone
 * beeps, so a played remote track gains energy). Fails after `timeoutMs` with
 * the last numbers.
 */
export async function waitForAudio(page: SoftphonePage, windowMs = 2000, timeoutMs = 15_000): Promise<AudioEvidence> {
  const before = await page.stats();
  const started = Date.now();
  let after = before;
  for (;;) {
    await sleep(POLL_MS);
    after = await page.stats();
    const elapsed = Date.now() - started;
    if (elapsed >= windowMs && after.inboundPackets > before.inboundPackets && after.audioEnergy > before.audioEnergy) {
      return { before, after };
    }
    if (elapsed > timeoutMs) {
      throw new Error(`${page.name}: no audio both received and played within ${timeoutMs} ms: ` +
        `inbound packets ${before.inboundPackets} → ${after.inboundPackets}, energy ${before.audioEnergy} → ${after.audioEnergy}, ` +
        `sent ${after.outboundPackets}`);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
