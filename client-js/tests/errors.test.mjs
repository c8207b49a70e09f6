// Links that cannot work get a clear screen with the server's own explanation, and a meeting
// that is going on at the same time does not notice any of it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  eventually,
  join,
  launchBrowser,
  openPage,
  remoteMedia,
  serverErrors,
  startServer,
  waitForMediaFrom,
  waitForTiles,
} from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper'];

/**
 * The server tolerates this much clock skew on `exp` (LEEWAY_SECS in signaling/src/token.rs),
 * so a token counts as expired only this long after its `exp`.
 */
const EXPIRY_LEEWAY_MS = 10_000;

function tokenExpiry(link) {
  const token = new URLSearchParams(new URL(link).hash.slice(1)).get('token');
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  return claims.exp * 1000;
}

/** Opens `link`, clicks Join and expects the error screen with the server's message. */
async function expectErrorScreen(browser, link, { code, title }) {
  const page = await openPage(browser, code);
  await page.goto(link);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('heading', { name: title }).waitFor();
  const serverError = await eventually(`a ${code} error from the server`, () =>
    serverErrors(page).find((e) => e.code === code),
  );
  assert.equal(serverError.fatal, true);
  assert.ok(serverError.message.length > 0);
  const shown = (await page.getByTestId('error-message').textContent()).trim();
  assert.equal(shown, serverError.message, 'the screen shows the server message verbatim');
  assert.equal(await page.locator('[data-screen=error]').getAttribute('data-error-code'), code);
  // No way back into this meeting with this link: no Rejoin button.
  assert.equal(await page.getByRole('button', { name: 'Rejoin' }).count(), 0);
  await page.context().close();
}

describe('links that cannot work', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let expiredLink;
  const pages = new Map();

  before(async () => {
    server = await startServer();
    // Minted first, so that it runs out while the meeting below gets going.
    expiredLink = await server.token({ room: 'standup', identity: 'late', name: 'Late Larry', ttl: '1s' });
    browser = await launchBrowser();
    for (const name of NAMES) {
      const link = await server.token({ room: 'standup', name });
      pages.set(name, await join(browser, link, name));
    }
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES);
      await waitForMediaFrom(
        page,
        NAMES.filter((n) => n !== name),
      );
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a page without a join link says one is needed', async () => {
    const page = await openPage(browser, 'no-link');
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: 'You need a join link' }).waitFor();
    await page.goto(`${server.url}/r/standup`);
    await page.getByRole('heading', { name: 'You need a join link' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Join', exact: true }).count(), 0);
    await page.context().close();
  });

  it('an expired link shows that it expired', async () => {
    // Setup, not a check: wait until the server must consider the token expired.
    const wait = tokenExpiry(expiredLink) + EXPIRY_LEEWAY_MS + 1_500 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await expectErrorScreen(browser, expiredLink, {
      code: 'token_expired',
      title: 'This join link has expired',
    });
  });

  it('a link for another room shows that it is for another meeting', async () => {
    const other = await server.token({ room: 'elsewhere', identity: 'mallory', name: 'Mallory' });
    const url = new URL(other);
    url.pathname = '/r/standup';
    await expectErrorScreen(browser, url.toString(), {
      code: 'wrong_room',
      title: 'This join link is for another meeting',
    });
  });

  it('a link whose token was tampered with shows that it is not valid', async () => {
    const good = await server.token({ room: 'standup', identity: 'eve', name: 'Eve' });
    // Flip the signature's first character: the claims still decode, the signature fails.
    const url = new URL(good);
    const fragment = new URLSearchParams(url.hash.slice(1));
    const token = fragment.get('token');
    fragment.set(
      'token',
      token.replace(/\.([A-Za-z0-9_-])([A-Za-z0-9_-]*)$/, (_, c, rest) => `.${c === 'A' ? 'B' : 'A'}${rest}`),
    );
    url.hash = fragment.toString();
    const bad = url.toString();
    assert.notEqual(bad, good);
    await expectErrorScreen(browser, bad, { code: 'invalid_token', title: 'This join link is not valid' });
  });

  it('leaves the meeting in progress untouched', async () => {
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES, 1_000);
      const other = NAMES.find((n) => n !== name);
      const before = (await remoteMedia(page))[other];
      await eventually(`${name} still receiving ${other}`, async () => {
        const now = (await remoteMedia(page))[other];
        return (
          now.framesDecoded > before.framesDecoded + 10 &&
          now.totalSamplesReceived > before.totalSamplesReceived
        );
      });
    }
  });

  it('a second join with the same identity replaces the first, which is told so', async () => {
    const oldAda = pages.get('Ada Lovelace');
    const link = await server.token({ room: 'standup', identity: 'ada', name: 'Ada Lovelace' });
    const newAda = await join(browser, link, 'Ada Lovelace', 'Ada (second tab)');

    await oldAda.getByRole('heading', { name: 'You joined from somewhere else' }).waitFor();
    const replaced = await eventually('a replaced error', () =>
      serverErrors(oldAda).find((e) => e.code === 'replaced'),
    );
    assert.equal((await oldAda.getByTestId('error-message').textContent()).trim(), replaced.message);
    assert.equal(await oldAda.getByRole('button', { name: 'Rejoin' }).count(), 1);

    // Grace sees one Ada, the new one, with her media.
    const grace = pages.get('Grace Hopper');
    await waitForTiles(grace, NAMES);
    const newId = await newAda.evaluate(() => window.veilDebug.participantId);
    await eventually(
      'Grace shows the new Ada',
      async () => {
        const media = await remoteMedia(grace);
        return media['Ada Lovelace']?.id === newId && media['Ada Lovelace'].framesDecoded > 0;
      },
      { timeout: 20_000 },
    );
    await waitForTiles(newAda, NAMES);
  });
});
