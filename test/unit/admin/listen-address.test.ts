import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminBaseUrl, listenUrl, parseListenAddress } from '../../../src/admin/index.js';

describe('parseListenAddress', () => {
  it('reads IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9060'), { ok: true, value: { host: '127.0.0.1', port: 9060 } });
    assert.deepEqual(parseListenAddress('localhost:0'), { ok: true, value: { host: 'localhost', port: 0 } });
    assert.deepEqual(parseListenAddress('[::1]:9060'), { ok: true, value: { host: '::1', port: 9060 } });
  });

  it('refuses what is not host:port, saying why', () => {
    const bare = parseListenAddress('::1:9060');
    assert.equal(bare.ok, false);
    assert.match(bare.ok ? '' : bare.error, /brackets/);
    for (const bad of ['9060', ':9060', '[::1]', '[nope]:1', 'host:', 'host:65536', 'host:-1']) assert.equal(parseListenAddress(bad).ok, false, bad);
  });
});

describe('listenUrl and adminBaseUrl', () => {
  it('reach a wildcard listener over loopback and bracket IPv6', () => {
    assert.equal(listenUrl({ host: '0.0.0.0', port: 9060 }), 'http://127.0.0.1:9060');
    assert.equal(listenUrl({ host: '::', port: 9060 }), 'http://[::1]:9060');
    assert.equal(listenUrl({ host: 'fd00::5', port: 1 }), 'http://[fd00::5]:1');
  });

  it('accept a URL or a listen address', () => {
    const fromUrl = adminBaseUrl('http://127.0.0.1:9060');
    assert.equal(fromUrl.ok && fromUrl.value.href, 'http://127.0.0.1:9060/');
    const fromListen = adminBaseUrl('[::1]:9060');
    assert.equal(fromListen.ok && fromListen.value.href, 'http://[::1]:9060/');
    assert.equal(adminBaseUrl('ftp://x').ok, false);
  });
});
