/**
 * Log rotation of the call records file on the real CLI under a stream of
 * SIPp calls (SIPp UAC → SBC → SIPp UAS, record-routed): the file is moved
 * away and the gateway told (SIGHUP twice, then `webrtc-sbc reload`);
 * every call SIPp completed is in exactly one of
 * the files, on a line of its own that parses.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePortInRange } from '../../helpers/free-port.js';
import { fixturesDir, sbcCommand } from '../../helpers/paths.js';
import { startGatewayChild, type GatewayChild } from './gateway-child.js';
import { sleep } from './records-helpers.js';

const run = promisify(execFile);
const CALLS = 240;
const RATE = 20;

function sippExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('call records file rotation under SIPp load (real CLI)', () => {
  let dir: string;
  let uas: ChildProcess | undefined;
  let gw: GatewayChild | undefined;
  let uasPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sbc-rotate-'));
    uasPort = await freePortInRange(20000, 32000);
    uas = spawn('sipp', ['-sf', join(fixturesDir, 'sipp', 'uas-rr.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'], { stdio: 'ignore' });
    gw = await startGatewayChild(dir, 'rotate', `backends:
  default:
    probe: { intervalSeconds: 0 }
    targets: [ { uri: "sip:127.0.0.1:${uasPort};transport=udp" } ]
callRecords: { file: calls.jsonl }
log: { level: info }
`);
  });
  after(async () => {
    await gw?.stop();
    uas?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  test('mv + SIGHUP (twice) and mv + webrtc-sbc reload: no line lost, none split, none twice', async () => {
    const file = join(dir, 'calls.jsonl');
    const uacPort = await freePortInRange(20000, 32000);
    const uac = spawn('sipp', [
      '-sf', join(fixturesDir, 'sipp', 'uac-rr.xml'), '-i', '127.0.0.1', '-p', String(uacPort),
      '-r', String(RATE), '-m', String(CALLS), '-l', String(RATE * 5), '-d', '300', '-nostdin',
      `127.0.0.1:${gw!.udpPort}`,
    ], { stdio: 'ignore' });
    const done = sippExit(uac, 60_000);
    const seconds = CALLS / RATE;
    // Three rotations early in the run, each while calls are up; the CLI's own start-up (the third) has time to spare.
    await sleep(seconds * 200);
    renameSync(file, `${file}.1`);
    gw!.child.kill('SIGHUP');
    await sleep(seconds * 200);
    renameSync(file, `${file}.2`);
    gw!.child.kill('SIGHUP');
    await sleep(seconds * 150);
    renameSync(file, `${file}.3`);
    const { command, args } = sbcCommand();
    const reload = await run(command, [...args, 'reload', '--admin', gw!.adminUrl]);
    assert.match(reload.stdout, /reloaded/, reload.stdout + reload.stderr);
    assert.equal(uac.exitCode, null, 'calls are still running after the reload (else the last file cannot get any)');
    const code = await done;
    assert.equal(code, 0, 'SIPp completed every call');
    assert.equal(gw!.child.exitCode, null, 'the gateway is still running (SIGHUP does not end it)');

    const files = [`${file}.1`, `${file}.2`, `${file}.3`, file];
    const read = (): string[][] => files.map((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l !== '') : []));
    // Records of the last calls may still be on their way to the disk.
    const until = Date.now() + 5000;
    while (read().flat().length < CALLS && Date.now() < until) await sleep(50);
    const perFile = read();
    for (const [i, lines] of perFile.entries()) assert.ok(lines.length > 0, `${files[i]} got records`);
    for (const raw of readFileSync(`${file}.1`, 'utf8').split('\n').slice(0, -1)) assert.ok(raw.length > 0, 'no empty line');
    const records = perFile.flat().map((line) => JSON.parse(line) as { callId: string; reason: string; status: number });
    assert.equal(records.length, CALLS, `one record per call (${perFile.map((l) => l.length).join(' + ')})`);
    assert.equal(new Set(records.map((r) => r.callId)).size, CALLS, 'no call written twice');
    for (const r of records) {
      assert.equal(r.reason, 'bye-caller');
      assert.equal(r.status, 200);
    }
    // Every file ends with a whole line.
    for (const f of files) assert.ok(readFileSync(f, 'utf8').endsWith('\n'), `${f} ends with a newline`);
  });
});
