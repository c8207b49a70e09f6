// `veil serve --tls-cert --tls-key`: two Chromium participants meet over HTTPS and WSS with a
// certificate from a CA this test makes. The browser trusts that CA through a flag naming its
// key (--ignore-certificate-errors-spki-list), never by turning certificate checks off. Pages
// carry HSTS and a Content-Security-Policy the client runs under without a violation, and a
// renewed certificate is served after SIGHUP and after the files change, without a restart.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { eventually, join, launchBrowser, startServer, waitForMediaFrom, waitForTiles } from './harness.mjs';

const run = promisify(execFile);

/** A CA and a way to issue certificates for 127.0.0.1 and localhost from it. */
async function makeCa(dir) {
  const ca = { key: joinPath(dir, 'ca.key'), cert: joinPath(dir, 'ca.pem') };
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca.key]);
  await run('openssl', [
    'req', '-x509', '-new', '-key', ca.key, '-out', ca.cert, '-days', '2', '-subj', '/CN=Veil test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign',
  ]);
  let serial = 0;
  /** Writes a fresh key and a certificate chain (leaf, then CA) to `certPath` and `keyPath`. */
  ca.issue = async (certPath, keyPath) => {
    serial += 1;
    const csr = joinPath(dir, `leaf-${serial}.csr`);
    const leaf = joinPath(dir, `leaf-${serial}.pem`);
    const ext = joinPath(dir, `leaf-${serial}.ext`);
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${keyPath}.new`]);
    await run('openssl', ['req', '-new', '-key', `${keyPath}.new`, '-out', csr, '-subj', '/CN=localhost']);
    await writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await run('openssl', [
      'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(1000 + serial),
      '-days', '1', '-out', leaf, '-extfile', ext,
    ]);
    const chain = (await readFile(leaf, 'utf8')) + (await readFile(ca.cert, 'utf8'));
    // Key first, then the chain: a reload in between would pair the new key with the old
    // certificate and be refused (the previous certificate stays), never serve a mismatch.
    await writeFile(keyPath, await readFile(`${keyPath}.new`));
    await writeFile(certPath, chain);
    return 1000 + serial;
  };
  return ca;
}

/** The SHA-256 of a certificate's SubjectPublicKeyInfo, base64: what the Chromium flag names. */
async function spkiHash(certPath) {
  const cert = new X509Certificate(await readFile(certPath));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** The serial number of the certificate a new TLS connection to `url` is given. */
function servedSerial(url, ca) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, servername: 'localhost' }, () => {
      const serial = parseInt(socket.getPeerCertificate().serialNumber, 16);
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

/** GET `url` over HTTPS, trusting only `ca`: the status and headers. */
function get(url, ca) {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    })
      .once('error', reject)
      .end();
  });
}

describe('HTTPS with a certificate of our own CA', { timeout: 180_000 }, () => {
  let dir;
  let ca;
  let caPem;
  let server;
  let browser;
  const files = {};

  before(async () => {
    dir = await mkdtemp(joinPath(tmpdir(), 'veil-tls-'));
    ca = await makeCa(dir);
    caPem = await readFile(ca.cert);
    files.cert = joinPath(dir, 'fullchain.pem');
    files.key = joinPath(dir, 'privkey.pem');
    await ca.issue(files.cert, files.key);
    server = await startServer({ args: ['--tls-cert', files.cert, '--tls-key', files.key] });
    browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${await spkiHash(ca.cert)}`]);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves join links and pages over HTTPS with HSTS and a strict CSP', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.joinLink, /^https:\/\//);
    const { status, headers } = await get(`${server.url}/r/standup`, caPem);
    assert.equal(status, 200);
    assert.equal(headers['strict-transport-security'], 'max-age=31536000');
    const csp = headers['content-security-policy'];
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    // The CA is trusted here because the test says so, not because checks are off: a client
    // that does not know it refuses the server.
    await assert.rejects(get(`${server.url}/healthz`, undefined), /self[- ]signed|unable to verify|local issuer/i);
  });

  it('lets two browsers meet over HTTPS and WSS, under the CSP', async () => {
    const violations = [];
    const pages = [];
    for (const name of ['Ada Lovelace', 'Grace Hopper']) {
      const link = await server.token({ room: 'tls', name });
      assert.match(link, /^https:\/\//);
      const page = await join(browser, link, name);
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      pages.push(page);
    }
    await waitForTiles(pages[0], ['Ada Lovelace', 'Grace Hopper']);
    await waitForMediaFrom(pages[0], ['Grace Hopper']);
    await waitForMediaFrom(pages[1], ['Ada Lovelace']);
    const secure = await pages[0].evaluate(() => ({ secure: window.isSecureContext, scheme: location.protocol }));
    assert.deepEqual(secure, { secure: true, scheme: 'https:' });
    assert.deepEqual(violations, []);
  });

  it('serves a renewed certificate after SIGHUP, and after the files change', async () => {
    const first = await servedSerial(server.url, caPem);
    // Renewed and announced: SIGHUP.
    const second = await ca.issue(files.cert, files.key);
    process.kill(server.pid, 'SIGHUP');
    await eventually('the certificate after SIGHUP', async () => (await servedSerial(server.url, caPem)) === second, {
      timeout: 5_000,
    });
    // Renewed in place, nobody told: the files' change is noticed.
    const third = await ca.issue(files.cert, files.key);
    await eventually('the certificate after the files changed', async () => (await servedSerial(server.url, caPem)) === third, {
      timeout: 15_000,
      interval: 500,
    });
    assert.ok(first < second && second < third);
    assert.match(server.allLogs(), /TLS certificate reloaded \(SIGHUP\)/);
  });
});
