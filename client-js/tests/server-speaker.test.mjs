// Server-side speaker detection in real Chromium. Three people meet; until a host turns the
// option on, no browser negotiates the audio-level header extension, so the server learns no
// audio level. Once it is on, every browser negotiates it again, the SFU names the one person
// whose microphone is on as the active speaker, and speaker view shows them large; turned off,
// the extension goes away again.
//
// The fake microphone plays a steady tone from a file, as in quality.test.mjs, so that the one
// unmuted person speaks continuously.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { eventually, launchToneBrowser, openPage, sentMessages, startServer, waitForTiles } from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
const SPEAKER = 'Alan Turing';
const EXTENSION = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** Whether the page's negotiated media (the SFU's answer to its offer) carries audio levels. */
const negotiatesLevels = (page) =>
  page.evaluate((ext) => window.veilDebug.pc.remoteDescription?.sdp.includes(ext) ?? false, EXTENSION);

/** The SDPs the page sent the server (offers and answers). */
const sentSdps = (page) => sentMessages(page).filter((m) => m.type === 'offer' || m.type === 'answer').map((m) => m.sdp);

describe('server-side speaker detection', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let tone;
  /** name → page, and name → the `active_speaker` messages it received. */
  const pages = new Map();
  const named = new Map();

  before(async () => {
    server = await startServer();
    tone = await launchToneBrowser();
    browser = tone.browser;
    for (const [i, name] of NAMES.entries()) {
      const link = await server.token({ room: 'town-hall', name, ...(i === 0 ? { identity: 'ada', host: true } : {}) });
      const page = await openPage(browser, name);
      const heard = [];
      named.set(name, heard);
      page.on('websocket', (ws) =>
        ws.on('framereceived', ({ payload }) => {
          const msg = JSON.parse(String(payload));
          if (msg.type === 'active_speaker') heard.push(msg.participant);
        }),
      );
      await page.goto(link);
      await page.getByTestId('name-input').fill(name);
      await page.getByRole('button', { name: 'Join', exact: true }).click();
      await page.locator('[data-screen=call]').waitFor();
      pages.set(name, page);
    }
    for (const page of pages.values()) await waitForTiles(page, NAMES);
  });

  after(async () => {
    await tone?.close();
    await server?.stop();
  });

  it('negotiates no audio level by default', async () => {
    for (const [name, page] of pages) {
      const sdps = sentSdps(page);
      assert.ok(sdps.length > 0, `${name} negotiated`);
      assert.ok(!sdps.some((sdp) => sdp.includes(EXTENSION)), `${name} offered audio levels`);
      assert.equal(await negotiatesLevels(page), false, `${name}'s media carries audio levels`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const [name, heard] of named) assert.deepEqual(heard, [], `${name} was told who speaks`);
  });

  it('with the option on, the server names the one person speaking and speaker view follows it', async () => {
    const ada = pages.get('Ada Lovelace');
    if (!(await ada.getByTestId('people-panel').isVisible())) await ada.getByTestId('people-button').click();
    await ada.getByTestId('policy-server-speaker').check();
    for (const [name, page] of pages) {
      await eventually(`${name} negotiates audio levels`, () => negotiatesLevels(page), { timeout: 20_000 });
    }
    for (const name of NAMES.filter((n) => n !== SPEAKER)) {
      const page = pages.get(name);
      await page.getByTestId('toggle-microphone').click();
      await eventually(`${name} muted`, async () => (await page.getByTestId('toggle-microphone').getAttribute('aria-pressed')) === 'true');
    }
    const alanId = await pages.get(SPEAKER).evaluate(() => window.veilDebug.participantId);
    for (const [name, heard] of named) {
      await eventually(`${name} is told ${SPEAKER} speaks`, () => heard.at(-1) === alanId, { timeout: 20_000, interval: 200 });
    }
    const grace = pages.get('Grace Hopper');
    await grace.getByTestId('layout-toggle').click();
    await eventually(`Grace sees ${SPEAKER} large`, async () => {
      const big = await grace.locator('[data-testid=spotlight] [data-testid=tile-name]').allTextContents();
      return big.length === 1 && big[0].trim() === SPEAKER;
    });
  });

  it('with the option off again, the audio level is negotiated away', async () => {
    const ada = pages.get('Ada Lovelace');
    await ada.getByTestId('policy-server-speaker').uncheck();
    for (const [name, page] of pages) {
      await eventually(`${name} stops negotiating audio levels`, async () => !(await negotiatesLevels(page)), { timeout: 20_000 });
      const last = sentSdps(page).at(-1);
      assert.ok(last && !last.includes(EXTENSION), `${name}'s last SDP offers audio levels`);
    }
  });
});
