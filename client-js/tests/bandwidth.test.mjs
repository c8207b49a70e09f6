// A subscriber behind a narrow link, in real Chromium: Cyd watches Ada in a large tile through
// `veil-loadtest impair` (impair.mjs). When Cyd's downlink is capped at 300 kbit/s, the SFU
// sees her link fill (its queue grows, then it drops) and moves her to a lower layer of Ada's
// camera instead of pushing 540p into it: her audio from Ada and Bob goes on without loss.
// When the cap lifts, she is moved back up to 540p. Bob and Cyd keep their cameras off so
// that the two cores encode only Ada's three layers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodedVideo, decodesAt, eventually, join, launchBrowser, tileInboundStats, waitForTiles } from './harness.mjs';
import { startImpairedServer } from './impair.mjs';

const CAPTURE = { video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 15 } } };
const NAMES = ['Ada Lovelace', 'Bob Kahn', 'Cyd Charisse'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Audio packets `page` received and lost from each remote participant. */
function audioPackets(page) {
  return tileInboundStats(page, { audio: { received: 'packetsReceived', lost: 'packetsLost' } });
}

describe('a subscriber behind a 300 kbit/s link', { timeout: 240_000 }, () => {
  let server;
  let relay;
  let browser;
  const pages = new Map();
  let cydPath;

  before(async () => {
    ({ server, relay } = await startImpairedServer());
    browser = await launchBrowser();
    for (const name of NAMES) {
      const link = await server.token({ room: 'narrow', name });
      const page = await join(browser, link, name, name, name === 'Ada Lovelace' ? CAPTURE : {});
      pages.set(name, page);
      await waitForTiles(page, NAMES.slice(0, pages.size));
      cydPath = await relay.claim();
    }
    for (const page of pages.values()) await waitForTiles(page, NAMES);
    for (const name of ['Bob Kahn', 'Cyd Charisse']) await pages.get(name).getByTestId('toggle-camera').click();
    const cyd = pages.get('Cyd Charisse');
    await cyd.setViewportSize({ width: 1600, height: 1000 }); // a grid of large tiles
  });

  after(async () => {
    await browser?.close();
    await relay?.stop();
    await server?.stop();
  });

  it('moves down to a low layer with audio intact, and back up when the link widens', async (t) => {
    const cyd = pages.get('Cyd Charisse');
    await decodesAt(cyd, 'Ada Lovelace', 540, 'Cyd decoding Ada at 540p before the cap');

    await relay.impair(cydPath, { down: { rate: 300 } });
    const capped = Date.now();
    const low = await eventually(
      'Cyd to be moved below 540p',
      async () => {
        const r = await decodedVideo(cyd, 'Ada Lovelace');
        if (!(r && r.height > 0 && r.height < 540)) throw new Error(JSON.stringify(r));
        return r;
      },
      { timeout: 60_000, interval: 250 },
    );
    const down = Date.now() - capped;

    // Settled under the cap: audio from both comes through whole, and video stays low.
    await sleep(3_000);
    const before = await audioPackets(cyd);
    const heights = new Set();
    for (let i = 0; i < 20; i++) {
      await sleep(500);
      heights.add((await decodedVideo(cyd, 'Ada Lovelace'))?.height);
    }
    const afterwards = await audioPackets(cyd);
    const links = await relay.report();
    t.diagnostic(`switched down to ${low.height}p ${down} ms after the cap; heights then ${[...heights].join(', ')}`);
    t.diagnostic(`relay: ${JSON.stringify(cydPath.map((id) => links[id - 1].down))}`);
    for (const name of ['Ada Lovelace', 'Bob Kahn']) {
      const received = afterwards[name].received - before[name].received;
      const lost = afterwards[name].lost - before[name].lost;
      t.diagnostic(`${name}'s audio under the cap: ${received} packets received, ${lost} lost`);
      assert.ok(received > 300, `${name}'s audio kept coming (${received} packets in 10 s)`);
      assert.ok(lost <= received / 100, `${name}'s audio lost ${lost} of ${received} packets`);
    }
    assert.ok(!heights.has(540), `Cyd stayed below 540p under the cap (${[...heights].join(', ')})`);

    await relay.impair(cydPath, { down: { rate: 0 } });
    const lifted = Date.now();
    await decodesAt(cyd, 'Ada Lovelace', 540, 'Cyd decoding Ada at 540p once the cap lifted');
    t.diagnostic(`switched back up to 540p ${Date.now() - lifted} ms after the cap lifted`);
  });
});
