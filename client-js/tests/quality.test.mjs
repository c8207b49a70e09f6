// Three people meet on loopback: every tile shows a connection-quality indicator, measured in
// each browser from its own statistics, and on a clean link it reads "good". In speaker view
// the one person whose microphone is on is shown large to the others; the grid comes back when
// they switch back; a shared screen still takes the large place. A participant whose media stops
// reaching us shows "lost" until it flows again.
//
// The fake microphone plays a steady tone from a file (Chromium's default fake microphone only
// beeps briefly twice a second), so that the one unmuted person speaks continuously, as someone
// talking would.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { eventually, join, launchToneBrowser, sentMessages, startServer, waitForTiles } from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
// The last to join, so that no fallback order (the first other participant) puts them large.
const SPEAKER = 'Alan Turing';

/** What a person sees of the tiles: name, whether it is their own, quality, and where it sits. */
function tilesOn(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid=tile]')].map((tile) => {
      const q = tile.querySelector('[data-testid=quality]');
      const box = tile.getBoundingClientRect();
      return {
        name: tile.querySelector('[data-testid=tile-name]').textContent.trim(),
        self: tile.classList.contains('self'),
        speaking: tile.classList.contains('speaking'),
        quality: q && !q.hidden && q.checkVisibility() ? q.getAttribute('data-quality') : null,
        qualityLabel: q?.getAttribute('aria-label') ?? null,
        qualityIcon: q?.querySelector('svg') !== null,
        inSpotlight: tile.parentElement?.getAttribute('data-testid') === 'spotlight',
        inGrid: tile.parentElement?.getAttribute('data-testid') === 'grid',
        width: box.width,
        height: box.height,
      };
    }),
  );
}

describe('connection quality and speaker view', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let tone;
  /** name → page */
  const pages = new Map();

  before(async () => {
    server = await startServer();
    tone = await launchToneBrowser();
    browser = tone.browser;
    // Ada hosts, so that she may share a screen.
    const links = await Promise.all(
      NAMES.map((name, i) => server.token({ room: 'quality', name, ...(i === 0 ? { identity: 'ada', host: true } : {}) })),
    );
    for (const [i, name] of NAMES.entries()) pages.set(name, await join(browser, links[i], name));
    for (const page of pages.values()) await waitForTiles(page, NAMES);
  });

  after(async () => {
    await tone?.close();
    await server?.stop();
  });

  it('shows every participant a quality indicator on each tile, their own included, reading good', async () => {
    for (const [name, page] of pages) {
      const tiles = await eventually(
        `${name} sees every connection as good`,
        async () => {
          const tiles = await tilesOn(page);
          if (tiles.length !== 3 || !tiles.every((t) => t.quality === 'good')) throw new Error(JSON.stringify(tiles));
          return tiles;
        },
        { timeout: 45_000, interval: 250 },
      );
      for (const tile of tiles) {
        assert.equal(tile.self, tile.name === name);
        assert.ok(tile.qualityIcon, `an icon on ${tile.name}'s tile`);
        assert.match(tile.qualityLabel, tile.self ? /^Your connection good$/ : /^Connection good$/);
      }
    }
  });

  it('reports to the server every 10 s its worst quality and its decryption failures, and nothing else', async () => {
    for (const [name, page] of pages) {
      const reports = await eventually(
        `${name}'s quality report`,
        () => {
          const r = sentMessages(page).filter((m) => m.type === 'quality_report');
          return r.length > 0 && r;
        },
        { timeout: 15_000, interval: 250 },
      );
      for (const r of reports) {
        assert.deepEqual(Object.keys(r).sort(), ['decrypt_failures', 'quality', 'type', 'v']);
        assert.ok(['good', 'fair', 'poor', 'lost'].includes(r.quality), JSON.stringify(r));
        assert.ok(Number.isInteger(r.decrypt_failures) && r.decrypt_failures >= 0, JSON.stringify(r));
      }
    }
  });

  it('in speaker view shows the one person speaking large to the others, a shared screen over it, and the grid again after', async () => {
    // Everyone but Alan mutes.
    for (const name of NAMES.filter((n) => n !== SPEAKER)) {
      const page = pages.get(name);
      await page.getByTestId('toggle-microphone').click();
      await eventually(`${name} muted`, async () => (await page.getByTestId('toggle-microphone').getAttribute('aria-pressed')) === 'true');
    }
    for (const [name, page] of pages) {
      const toggle = page.getByTestId('layout-toggle');
      assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
      if (name === SPEAKER) continue;
      const tiles = await eventually(
        `${name} sees ${SPEAKER} large`,
        async () => {
          const tiles = await tilesOn(page);
          const big = tiles.filter((t) => t.inSpotlight);
          if (big.length !== 1 || big[0].name !== SPEAKER) throw new Error(JSON.stringify(tiles));
          return tiles;
        },
        { timeout: 30_000, interval: 200 },
      );
      const big = tiles.find((t) => t.inSpotlight);
      // The speaking ring stays on the speaker's tile.
      assert.ok(big.speaking, `${SPEAKER}'s tile shows speaking`);
      for (const small of tiles.filter((t) => !t.inSpotlight)) {
        assert.ok(small.inGrid, `${small.name} in the strip`);
        assert.ok(big.width > small.width * 1.5 && big.height > small.height * 1.5, JSON.stringify(tiles));
      }
      assert.equal(await page.locator('.call').getAttribute('data-layout'), 'speaker');
    }
    // The speaker sees one of the others large, never himself.
    const own = await tilesOn(pages.get(SPEAKER));
    assert.ok(!own.find((t) => t.self).inSpotlight, JSON.stringify(own));

    // Ada shares her screen: it takes the large place, the camera tiles line up beside it.
    const ada = pages.get('Ada Lovelace');
    await ada.getByTestId('share-screen').click();
    for (const name of ['Grace Hopper', SPEAKER]) {
      const page = pages.get(name);
      await page.getByTestId('presentation').waitFor({ state: 'visible', timeout: 20_000 });
      const tiles = await eventually(`${name} shows the screen, not the spotlight`, async () => {
        const tiles = await tilesOn(page);
        if (!tiles.every((t) => t.inGrid) || !(await page.getByTestId('spotlight').isHidden())) throw new Error(JSON.stringify(tiles));
        return tiles;
      });
      assert.equal(tiles.length, 3);
      assert.equal(await page.locator('.call').getAttribute('data-layout'), 'presentation');
    }
    await ada.getByTestId('stop-share').click();
    const grace = pages.get('Grace Hopper');
    await grace.getByTestId('presentation').waitFor({ state: 'hidden', timeout: 20_000 });
    await eventually(`Grace sees ${SPEAKER} large again`, async () => {
      const big = (await tilesOn(grace)).filter((t) => t.inSpotlight);
      return big.length === 1 && big[0].name === SPEAKER;
    });

    for (const [name, page] of pages) {
      await page.getByTestId('layout-toggle').click();
      const tiles = await eventually(
        `${name} back to the grid`,
        async () => {
          const tiles = await tilesOn(page);
          if (!tiles.every((t) => t.inGrid) || !(await page.getByTestId('spotlight').isHidden())) {
            throw new Error(JSON.stringify(tiles));
          }
          return tiles;
        },
        { timeout: 10_000 },
      );
      // A grid of equal tiles, own first.
      assert.equal(tiles.length, 3);
      assert.ok(tiles[0].self, 'own tile first');
      for (const t of tiles) assert.ok(Math.abs(t.width - tiles[0].width) < 1, JSON.stringify(tiles));
      assert.equal(await page.locator('.call').getAttribute('data-layout'), 'grid');
      assert.equal(await page.getByTestId('layout-toggle').getAttribute('aria-pressed'), 'false');
    }
  });

  it('shows a participant whose media stops reaching us as lost, and good again when it flows', async () => {
    // Alan's media stops leaving his browser while he stays in the meeting (as when his uplink
    // fails): his tracks, microphone and camera on, deliver nothing.
    const alan = pages.get('Alan Turing');
    await alan.evaluate(async () => {
      const senders = window.veilDebug.pc.getSenders();
      window.heldTracks = senders.map((s) => s.track);
      await Promise.all(senders.map((s) => s.replaceTrack(null)));
    });
    for (const name of ['Ada Lovelace', 'Grace Hopper']) {
      const tile = await eventually(
        `${name} sees Alan's connection lost`,
        async () => {
          const tile = (await tilesOn(pages.get(name))).find((t) => t.name === 'Alan Turing');
          if (tile?.quality !== 'lost') throw new Error(JSON.stringify(tile));
          return tile;
        },
        { timeout: 20_000, interval: 250 },
      );
      assert.match(tile.qualityLabel, /^Connection lost: nothing received for \d+ s$/);
      // The others' connections stay good.
      await eventually(`${name} sees the other connections good`, async () => {
        const others = (await tilesOn(pages.get(name))).filter((t) => t.name !== 'Alan Turing');
        if (!others.every((t) => t.quality === 'good')) throw new Error(JSON.stringify(others));
        return true;
      }, { timeout: 30_000, interval: 250 });
    }
    await alan.evaluate(async () => {
      const senders = window.veilDebug.pc.getSenders();
      await Promise.all(senders.map((s, i) => s.replaceTrack(window.heldTracks[i])));
    });
    for (const name of ['Ada Lovelace', 'Grace Hopper']) {
      await eventually(
        `${name} sees Alan's connection good again`,
        async () => (await tilesOn(pages.get(name))).find((t) => t.name === 'Alan Turing')?.quality === 'good',
        { timeout: 30_000, interval: 250 },
      );
    }
  });
});
