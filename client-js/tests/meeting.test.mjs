// Three people meet in one room: they see each other's tiles, decode each other's video and
// audio, see mute and camera changes, and a leaver's tile disappears. A fourth person in another
// room sees and receives nothing of it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  eventually,
  framesEncoded,
  inboundTotals,
  join,
  launchBrowser,
  remoteMedia,
  startServer,
  tileNames,
  waitForMediaFrom,
  waitForTiles,
} from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];

describe('a three-person meeting', { timeout: 180_000 }, () => {
  let server;
  let browser;
  /** name → page */
  const pages = new Map();

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const links = await Promise.all(
      NAMES.map((name) =>
        server.token({ room: 'standup', name }),
      ),
    );
    // One after another, as people arrive; the later ones find the earlier ones in the room.
    for (const [i, name] of NAMES.entries()) pages.set(name, await join(browser, links[i], name));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows every participant a tile for each of the three, with their names', async () => {
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES);
      const self = page.locator('[data-testid=tile].self');
      assert.equal((await self.locator('[data-testid=tile-name]').textContent()).trim(), name);
      assert.equal((await self.locator('[data-testid=tile-you]').textContent()).trim(), 'You');
      const id = await page.evaluate(() => window.veilDebug.participantId);
      assert.equal(await self.getAttribute('data-participant-id'), id);
    }
  });

  it('decodes video and audio from both others, per participant', async () => {
    for (const [name, page] of pages) {
      const others = NAMES.filter((n) => n !== name);
      const media = await waitForMediaFrom(page, others);
      for (const other of others) {
        assert.ok(media[other].framesDecoded > 0, `${name} decodes ${other}'s video`);
        assert.ok(media[other].totalSamplesReceived > 0, `${name} decodes ${other}'s audio`);
      }
      // Video travels as VP8 and audio as Opus, as the client prefers.
      const codecs = await page.evaluate(async () => {
        const found = new Set();
        (await window.veilDebug.pc.getStats()).forEach((s) => s.type === 'codec' && found.add(s.mimeType));
        return [...found].sort();
      });
      assert.ok(codecs.includes('video/VP8'), `codecs in use: ${codecs}`);
      assert.ok(codecs.includes('audio/opus'), `codecs in use: ${codecs}`);
      // The tile ids are the senders' participant ids.
      for (const other of others) {
        const otherId = await pages.get(other).evaluate(() => window.veilDebug.participantId);
        assert.equal(media[other].id, otherId);
      }
    }
  });

  it('shows a muted microphone and a camera that is off to the others', async () => {
    const grace = pages.get('Grace Hopper');
    await grace.getByRole('button', { name: 'Mute microphone' }).click();
    await grace.getByRole('button', { name: 'Turn camera off' }).click();
    for (const name of ['Ada Lovelace', 'Alan Turing']) {
      const tile = pages.get(name).locator('[data-testid=tile]', { hasText: 'Grace Hopper' });
      await eventually(`${name} sees Grace muted with her camera off`, async () => {
        const muted = await tile.locator('[data-testid=tile-muted]').isVisible();
        const camera = await tile.getAttribute('data-camera');
        if (!muted || camera !== 'off') throw new Error(`muted=${muted} camera=${camera}`);
        return true;
      });
      // With the camera off the tile shows initials instead of video.
      assert.equal((await tile.locator('.avatar').textContent()).trim(), 'GH');
      assert.ok(await tile.locator('.avatar').isVisible());
    }
    // The camera itself is released (its light goes out), not just hidden.
    const cameraTracks = await grace.evaluate(
      () => window.veilDebug.pc.getSenders().filter((s) => s.track?.kind === 'video').length,
    );
    assert.equal(cameraTracks, 0);

    await grace.getByRole('button', { name: 'Unmute microphone' }).click();
    await grace.getByRole('button', { name: 'Turn camera on' }).click();
    for (const name of ['Ada Lovelace', 'Alan Turing']) {
      const page = pages.get(name);
      const before = (await remoteMedia(page))['Grace Hopper'].framesDecoded;
      const tile = page.locator('[data-testid=tile]', { hasText: 'Grace Hopper' });
      await eventually(
        `${name} sees Grace's camera back on, with new frames`,
        async () => {
          const muted = await tile.locator('[data-testid=tile-muted]').isVisible();
          const camera = await tile.getAttribute('data-camera');
          const frames = (await remoteMedia(page))['Grace Hopper'].framesDecoded;
          if (muted || camera !== 'on' || frames <= before + 5) {
            throw new Error(`muted=${muted} camera=${camera} frames=${frames} (was ${before})`);
          }
          return true;
        },
        { timeout: 15_000 },
      );
    }
  });

  it('keeps a meeting in another room apart', async () => {
    const link = await server.token({ room: 'retro', identity: 'edsger', name: 'Edsger Dijkstra' });
    const edsger = await join(browser, link, 'Edsger Dijkstra');
    try {
      await waitForTiles(edsger, ['Edsger Dijkstra']);
      // Wait until Edsger's own media is flowing (~4 s of video), so the SFU had every chance
      // to forward something from the other room.
      await eventually('Edsger sending video', async () => (await framesEncoded(edsger)) >= 60, {
        timeout: 20_000,
      });
      const inbound = await inboundTotals(edsger);
      assert.equal(inbound.packetsReceived, 0, `Edsger received media: ${JSON.stringify(inbound)}`);
      assert.equal(inbound.framesDecoded, 0);
      assert.equal(inbound.totalSamplesReceived, 0);
      assert.deepEqual(await tileNames(edsger), ['Edsger Dijkstra']);
      for (const page of pages.values()) assert.deepEqual(await tileNames(page), [...NAMES].sort());
    } finally {
      await edsger.context().close();
    }
  });

  it('drops the tile of someone who leaves within 5 seconds', async (t) => {
    const alan = pages.get('Alan Turing');
    await alan.getByRole('button', { name: 'Leave meeting' }).click();
    const started = Date.now();
    await Promise.all(
      ['Ada Lovelace', 'Grace Hopper'].map((name) =>
        waitForTiles(pages.get(name), ['Ada Lovelace', 'Grace Hopper'], 5_000),
      ),
    );
    const took = Date.now() - started;
    t.diagnostic(`the others dropped the leaver's tile after ${took} ms`);
    assert.ok(took <= 5_000);

    // Alan sees that he left, his media is closed, and he can come back.
    await alan.getByRole('heading', { name: 'You left the meeting' }).waitFor();
    assert.equal(await alan.evaluate(() => window.veilDebug.pc.connectionState), 'closed');
    await alan.getByRole('button', { name: 'Rejoin' }).click();
    for (const page of pages.values()) await waitForTiles(page, NAMES);
    await waitForMediaFrom(alan, ['Ada Lovelace', 'Grace Hopper']);
    for (const name of ['Ada Lovelace', 'Grace Hopper'])
      await waitForMediaFrom(pages.get(name), ['Alan Turing']);
  });
});
