// Sign-in for hosts through a real OpenID Connect provider, in real Chromium against a real
// `veil serve`: the provider is `oidc-provider` running in this process on loopback, with a
// client registered for veil's callback, two users (alice in the group veil-hosts, bob not), PKCE
// required, and its own login and consent pages. Alice starts a meeting from veil's start page
// and lands in it as a host; bob signs in to the same room and lands as a participant.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openPage, startServer } from './harness.mjs';

// oidc-provider announces on the console each development default this test relies on (its
// in-memory store, generated keys, built-in login pages, and that it wants Node 22 while the
// tests run on Debian's Node 20); they are expected here, so they are kept out of the output.
for (const level of ['warn', 'info']) {
  const original = console[level];
  console[level] = (...args) => {
    if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
    original(...args);
  };
}
const { default: Provider } = await import('oidc-provider');

const CLIENT_ID = 'veil-test';
const CLIENT_SECRET = randomBytes(24).toString('hex');

/** The provider's accounts: the login is the account id. */
const USERS = {
  alice: { email: 'alice@example.org', email_verified: true, groups: ['staff', 'veil-hosts'] },
  bob: { email: 'bob@example.org', email_verified: true, groups: ['staff'] },
};

function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

/** A loopback port nobody listens on right now, for veil (its callback must be registered first). */
async function freePort() {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  return port;
}

/** `oidc-provider` on a free loopback port, with veil's callback registered. */
async function startProvider(callback) {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [callback],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    // Each of these scopes grants its claims; `groups` is listed in the discovery document.
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // Put the granted claims in the ID token (the provider's default keeps them for userinfo).
    conformIdTokenClaims: false,
    // The code is worth nothing without the verifier: veil must send a challenge.
    pkce: { required: () => true },
    findAccount: (_ctx, id) =>
      USERS[id] ? { accountId: id, claims: () => ({ sub: id, ...USERS[id] }) } : undefined,
    cookies: { keys: [randomBytes(16).toString('hex')] },
  });
  server.on('request', provider.callback());
  return { issuer, close: () => new Promise((r) => server.close(r)) };
}

/** The claims of the join token in a landing URL's fragment (`#token=JWT`). */
function tokenClaims(url) {
  const fragment = new URLSearchParams(new URL(url).hash.slice(1));
  const token = fragment.get('token');
  assert.ok(token, `no token in ${url}`);
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

describe('OIDC', { timeout: 240_000 }, () => {
  let provider;
  let server;
  let browser;
  let configDir;
  const room = 'design-review';
  const pages = [];

  before(async () => {
    const port = await freePort();
    provider = await startProvider(`http://127.0.0.1:${port}/auth/callback`);
    configDir = await mkdtemp(joinPath(tmpdir(), 'veil-oidc-'));
    const config = joinPath(configDir, 'veil.toml');
    // Hosts from the file; issuer and client id as flags; the secret only in the environment.
    await writeFile(config, '[oidc]\nhosts = ["ada@example.org"]\nhost_groups = ["veil-hosts"]\n');
    server = await startServer({
      http: `127.0.0.1:${port}`,
      args: ['--config', config, '--oidc-issuer', provider.issuer, '--oidc-client-id', CLIENT_ID],
      env: { VEIL_OIDC_CLIENT_SECRET: CLIENT_SECRET },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const page of pages) await page.context().close().catch(() => {});
    await browser?.close();
    await server?.stop();
    await provider?.close();
    if (configDir) await rm(configDir, { recursive: true, force: true });
  });

  /**
   * Opens veil's start page, signs in as `login` through the provider's own pages (for `room`,
   * or a fresh one), joins from the pre-join screen and waits for the call. Returns the page,
   * the URL it landed on and the callback URL the provider sent it to.
   */
  async function signInAndJoin(login, roomName) {
    const page = await openProviderReadyPage(login);
    const callbacks = [];
    page.on('request', (request) => {
      if (request.url().startsWith(`${server.url}/auth/callback`)) callbacks.push(request.url());
    });
    await page.goto(`${server.url}/`);
    await page.getByTestId('sign-in').waitFor();
    if (roomName) await page.getByTestId('sign-in-room').fill(roomName);
    await page.getByTestId('sign-in').click();

    // The provider's login page, then its consent page.
    await page.waitForURL((url) => url.href.startsWith(provider.issuer));
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.waitForURL((url) => url.href.startsWith(`${server.url}/r/`));
    const landed = page.url();
    await page.getByTestId('name-input').fill(login === 'alice' ? 'Alice' : 'Bob');
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page.locator('[data-screen=call]').waitFor();
    assert.equal(callbacks.length, 1, 'one callback');
    return { page, landed, callback: callbacks[0] };
  }

  /**
   * A page whose browser context answers, empty, what the provider's pages ask of the internet
   * (a web font) and its favicon, which this machine cannot fetch and the test does not need.
   */
  async function openProviderReadyPage(label) {
    const page = await openPage(browser, label);
    pages.push(page);
    await page.context().route(
      (url) => url.hostname !== '127.0.0.1' || url.href === `${provider.issuer}/favicon.ico`,
      (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }),
    );
    return page;
  }

  async function openPeople(page) {
    if (!(await page.getByTestId('people-panel').isVisible())) await page.getByTestId('people-button').click();
    await page.getByTestId('people-panel').waitFor();
  }

  it("a user signs in through the real provider's login page in Chromium and gets a host link", async () => {
    const { page, landed, callback } = await signInAndJoin('alice', room);
    assert.ok(landed.startsWith(`${server.url}/r/${room}#token=`), landed);
    const claims = tokenClaims(landed);
    assert.equal(claims.grants.host, true, JSON.stringify(claims));
    assert.equal(claims.sub, 'alice@example.org', 'the identity is the verified email');
    assert.equal(claims.room, room);
    assert.equal(claims.exp - claims.iat, 12 * 3600);
    assert.ok(!new URL(landed).hash.includes('name='), 'no name in the link');

    await openPeople(page);
    await page.getByTestId('policy-lobby').waitFor();
    assert.equal(await page.getByTestId('share-screen').isVisible(), true);

    // The callback cannot be played again, in this browser or any other.
    const replay = await openPage(browser, 'replay');
    pages.push(replay);
    const response = await replay.goto(callback);
    assert.equal(response.status(), 400);
    assert.equal(await replay.locator('main').getAttribute('data-error-code'), 'unknown_state');
  });

  it('a user outside the configured host set does not', async () => {
    const { page, landed } = await signInAndJoin('bob', room);
    assert.ok(landed.startsWith(`${server.url}/r/${room}#token=`), landed);
    const claims = tokenClaims(landed);
    assert.equal(claims.grants.host, false, JSON.stringify(claims));
    assert.equal(claims.sub, 'bob@example.org');
    assert.equal(claims.exp - claims.iat, 3600);

    await openPeople(page);
    await page.locator('[data-testid=person]', { hasText: 'Alice' }).waitFor();
    assert.equal(await page.getByTestId('policy-lobby').count(), 0, 'no host settings');
    assert.equal(await page.getByTestId('share-screen').isVisible(), false, 'no share-screen button');
  });

  it('a fresh room without a name, and nothing of the ID token in the logs', async () => {
    const page = await openProviderReadyPage('start');
    await page.goto(`${server.url}/`);
    await page.getByTestId('sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(provider.issuer));
    // Alice's provider session lives in her own browser context, so this one logs in again.
    await page.locator('input[name=login]').fill('bob');
    await page.locator('input[name=password]').fill('x');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${server.url}/r/`));
    assert.match(new URL(page.url()).pathname, /^\/r\/room-[0-9a-f]{8}$/);

    const logs = server.allLogs();
    for (const secret of ['alice@example.org', 'bob@example.org', 'veil-hosts', CLIENT_SECRET]) {
      assert.ok(!logs.includes(secret), `the server logged ${secret}`);
    }
  });
});
