import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { CertificateError, ensureCertificate } from '../../../src/certs/index.js';
import { createLogger, silentLogger } from '../../../src/log/logger.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sbc-certs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A logger that keeps its JSON lines for inspection. */
function recordingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('ensureCertificate', () => {
  it('generates a self-signed pair when both files are missing, and reuses it after', async () => {
    const certFile = join(dir, 'gen', 'nested', 'server.crt');
    const keyFile = join(dir, 'gen', 'nested', 'server.key');
    const { logger, lines } = recordingLogger();

    const first = await ensureCertificate({ certFile, keyFile, hosts: ['0.0.0.0', 'sbc.example.com', '203.0.113.5'], logger });
    assert.equal(first.generated, true);

    const x509 = new X509Certificate(first.cert);
    const san = x509.subjectAltName ?? '';
    for (const entry of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:sbc.example.com', 'IP Address:203.0.113.5']) {
      assert.ok(san.includes(entry), `${entry} in ${san}`);
    }
    assert.ok(!san.includes('0.0.0.0'), 'unspecified address left out');
    assert.match(x509.subject, /CN=localhost/);
    assert.equal(x509.checkPrivateKey(createPrivateKey(first.key)), true);
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    assert.ok(days > 364 && days < 367, `valid for ${days} days`);

    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(certFile)).mode & 0o777, 0o644);
    assert.equal(await readFile(certFile, 'utf8'), first.cert);
    assert.equal(await readFile(keyFile, 'utf8'), first.key);

    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const entry = logged.find((l) => l['msg'] === 'generated self-signed certificate');
    assert.ok(entry);
    assert.equal(entry['certFile'], certFile);
    assert.ok((entry['hosts'] as string[]).includes('sbc.example.com'));
    assert.ok(!lines.join('').includes('PRIVATE KEY'), 'the key never reaches the log');

    const second = await ensureCertificate({ certFile, keyFile, hosts: ['other.example.com'], logger: silentLogger() });
    assert.equal(second.generated, false);
    assert.equal(second.cert, first.cert);
    assert.equal(second.key, first.key);
  });

  it('gives every generated certificate its own serial number', async () => {
    const a = await ensureCertificate({ certFile: join(dir, 'a.crt'), keyFile: join(dir, 'a.key'), hosts: [], logger: silentLogger() });
    const b = await ensureCertificate({ certFile: join(dir, 'b.crt'), keyFile: join(dir, 'b.key'), hosts: [], logger: silentLogger() });
    assert.notEqual(new X509Certificate(a.cert).serialNumber, new X509Certificate(b.cert).serialNumber);
  });

  it('refuses a pair with one file missing and writes nothing', async () => {
    const certFile = join(dir, 'half', 'server.crt');
    const keyFile = join(dir, 'half', 'server.key');
    const made = await ensureCertificate({ certFile: join(dir, 'half', 'src.crt'), keyFile: join(dir, 'half', 'src.key'), hosts: [], logger: silentLogger() });
    await writeFile(certFile, made.cert);

    await assert.rejects(ensureCertificate({ certFile, keyFile, hosts: [], logger: silentLogger() }), (error: unknown) => {
      assert.ok(error instanceof CertificateError);
      assert.equal(error.code, 'SBC_ERR_CERT');
      assert.match(error.message, /server\.key is missing but .*server\.crt exists/);
      return true;
    });
    await assert.rejects(stat(keyFile), { code: 'ENOENT' });
    assert.equal(await readFile(certFile, 'utf8'), made.cert, 'the user file is untouched');
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const one = await ensureCertificate({ certFile: join(dir, 'one.crt'), keyFile: join(dir, 'one.key'), hosts: [], logger: silentLogger() });
    const two = await ensureCertificate({ certFile: join(dir, 'two.crt'), keyFile: join(dir, 'two.key'), hosts: [], logger: silentLogger() });
    await writeFile(join(dir, 'mixed.crt'), one.cert);
    await writeFile(join(dir, 'mixed.key'), two.key);
    await assert.rejects(
      ensureCertificate({ certFile: join(dir, 'mixed.crt'), keyFile: join(dir, 'mixed.key'), hosts: [], logger: silentLogger() }),
      (error: unknown) => error instanceof CertificateError && /does not belong to the certificate/.test(error.message),
    );
  });

  it('refuses a certificate file that is not PEM', async () => {
    const certFile = join(dir, 'garbage.crt');
    const keyFile = join(dir, 'garbage.key');
    await writeFile(certFile, 'not a certificate');
    await writeFile(keyFile, 'not a key');
    await assert.rejects(ensureCertificate({ certFile, keyFile, hosts: [], logger: silentLogger() }), (error: unknown) => {
      return error instanceof CertificateError && error.message.startsWith(`${certFile} is not a PEM certificate`);
    });
  });
});
