import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../src/admin/metrics.js';
import { CertificateRenewal, type CertificateSource } from '../../../src/certs/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { TlsCredentials } from '../../../src/transport/tls-credentials.js';
import { freshTestCert, type TestCert } from '../../helpers/test-cert.js';

const dir = mkdtempSync(join(tmpdir(), 'sbc-renewal-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes the pair the way certbot and acme.sh do: a temporary file renamed over the old one. */
function install(files: { certFile: string; keyFile: string }, pair: { cert: string; key: string }): void {
  n += 1;
  writeFileSync(`${files.keyFile}.tmp${n}`, pair.key);
  writeFileSync(`${files.certFile}.tmp${n}`, pair.cert);
  renameSync(`${files.keyFile}.tmp${n}`, files.keyFile);
  renameSync(`${files.certFile}.tmp${n}`, files.certFile);
}

function setup(name: string, watch: boolean): { source: CertificateSource; first: TestCert; applied: TlsCredentials[]; renewal: CertificateRenewal; reloads: () => Promise<Record<string, number>> } {
  const sub = join(dir, name);
  const source: CertificateSource = { certFile: join(sub, 'server.crt'), keyFile: join(sub, 'server.key'), minVersion: 'TLSv1.2', watch };
  mkdirSync(sub);
  const first = freshTestCert();
  install(source, first);
  const applied: TlsCredentials[] = [];
  const metrics = createMetrics(new Registry());
  const renewal = new CertificateRenewal({ source, initial: first, apply: (c) => applied.push(c), logger: silentLogger(), metrics, debounceMs: 50 });
  const reloads = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const v of (await metrics.registry.getSingleMetric('sbc_tls_certificate_reloads_total')!.get()).values) out[String(v.labels.result)] = v.value;
    return out;
  };
  return { source, first, applied, renewal, reloads };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const fingerprint = (pem: string | Buffer): string => new X509Certificate(pem).fingerprint256;

describe('CertificateRenewal', () => {
  it('reload: an unchanged pair changes nothing; a new pair is applied with the TLS settings', async () => {
    const t = setup('reload', false);
    try {
      assert.deepEqual(await t.renewal.reload(), { kind: 'unchanged' });
      assert.equal(t.applied.length, 0);
      const second = freshTestCert();
      install(t.source, second);
      const outcome = await t.renewal.reload({ ...t.source, minVersion: 'TLSv1.3' });
      assert.deepEqual(outcome, { kind: 'renewed', fingerprint: fingerprint(second.cert) });
      assert.equal(t.applied.length, 1);
      assert.equal(fingerprint(t.applied[0]!.cert), fingerprint(second.cert));
      assert.equal(t.applied[0]!.minVersion, 'TLSv1.3');
      assert.deepEqual(await t.reloads(), { renewed: 1 });
    } finally {
      t.renewal.close();
    }
  });

  it('reload: a key that does not match the certificate, or an unparsable certificate, is refused and nothing is applied', async () => {
    const t = setup('broken', false);
    try {
      install(t.source, { cert: freshTestCert().cert, key: t.first.key });
      const mismatch = await t.renewal.reload();
      assert.equal(mismatch.kind, 'refused');
      assert.equal(mismatch.kind === 'refused' && mismatch.file, 'key');
      install(t.source, { cert: 'not a certificate', key: t.first.key });
      const garbage = await t.renewal.reload();
      assert.equal(garbage.kind === 'refused' && garbage.file, 'cert');
      rmSync(t.source.keyFile);
      const missing = await t.renewal.reload();
      assert.equal(missing.kind === 'refused' && missing.file, 'key');
      assert.equal(t.applied.length, 0);
      assert.deepEqual(await t.reloads(), { refused: 3 });
      // Once a good pair is back it is taken.
      const good = freshTestCert();
      install(t.source, good);
      assert.equal((await t.renewal.reload()).kind, 'renewed');
    } finally {
      t.renewal.close();
    }
  });

  it('watch: files replaced by rename are picked up without being asked; a broken pair that follows is refused', async () => {
    const t = setup('watch', true);
    t.renewal.start();
    try {
      const second = freshTestCert();
      install(t.source, second);
      await until('the renamed pair is applied', () => t.applied.length === 1);
      assert.equal(fingerprint(t.applied[0]!.cert), fingerprint(second.cert));
      install(t.source, { cert: freshTestCert().cert, key: second.key });
      await until('the broken pair is refused', async () => (await t.reloads()).refused === 1);
      assert.equal(t.applied.length, 1, 'the broken pair never reached the listeners');
    } finally {
      t.renewal.close();
    }
  });
});
