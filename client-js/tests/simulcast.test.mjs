// Simulcast in real Chromium against a real `veil serve`: Ada's camera goes out in three layers
// (135p, 270p and 540p of a 540p capture), each encrypted; Bob shows her full screen and Cyd
// in a small window, and each decodes the layer that fills the tile, not more. When Cyd's
// window grows, the SFU switches her up on a keyframe and her picture goes on, still
// decrypted. Layers nobody watches pause at Ada's browser until a tile needs them. Bob and
// Cyd turn their cameras off, so that the machine's two cores encode only
// Ada's layers: a browser short of CPU drops its top layers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodesAt, e2eeStatus, eventually, join, launchBrowser, startServer, waitForTiles } from './harness.mjs';

const CAPTURE = { video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 15 } } };

/** The layers `page` sends of its camera: `{ rid: frameHeight }`, from outbound-rtp. */
function sentLayers(page) {
  return page.evaluate(async () => {
    const layers = {};
    (await window.veilDebug.pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid && s.frameHeight) layers[s.rid] = s.frameHeight;
    });
    return layers;
  });
}

/** Which of `page`'s camera encodings are active: `{ rid: active }`. */
function activeLayers(page) {
  return page.evaluate(() => {
    const camera = window.veilDebug.pc.getTransceivers().find((t) => t.sender.getParameters().encodings?.length > 1);
    return Object.fromEntries(camera.sender.getParameters().encodings.map((e) => [e.rid, e.active !== false]));
  });
}

describe('simulcast', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let ada;
  let bob;
  let cyd;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const link = (name) => server.token({ room: 'simulcast', name });
    ada = await join(browser, await link('Ada Lovelace'), 'Ada Lovelace', 'ada', CAPTURE);
    bob = await join(browser, await link('Bob Kahn'), 'Bob Kahn', 'bob');
    cyd = await join(browser, await link('Cyd Charisse'), 'Cyd Charisse', 'cyd');
    for (const page of [ada, bob, cyd]) await waitForTiles(page, ['Ada Lovelace', 'Bob Kahn', 'Cyd Charisse']);
    for (const page of [bob, cyd]) {
      await page.getByTestId('toggle-camera').click();
      // Only Ada speaks, so that speaker view keeps her in the spotlight.
      await page.getByTestId('toggle-microphone').click();
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('sends the camera in three encrypted layers', async () => {
    const layers = await eventually(
      'three layers',
      async () => {
        const l = await sentLayers(ada);
        if (Object.keys(l).length !== 3) throw new Error(JSON.stringify(l));
        return l;
      },
      { timeout: 30_000, interval: 250 },
    );
    assert.deepEqual(layers, { q: 135, h: 270, f: 540 });
    const { frames } = await e2eeStatus(ada);
    const camera = frames.senders.filter((s) => s.kind === 'video');
    assert.ok(camera.some((s) => s.encrypted > 0) && camera.every((s) => s.clear === 0), JSON.stringify(frames.senders));
  });

  it('gives a large tile the 540p layer and a small one the 135p layer', async () => {
    await bob.setViewportSize({ width: 1600, height: 1000 });
    await bob.getByTestId('layout-toggle').click();
    await cyd.setViewportSize({ width: 420, height: 300 });
    await decodesAt(bob, 'Ada Lovelace', 540, 'Bob decoding Ada at 540p');
    await decodesAt(cyd, 'Ada Lovelace', 135, 'Cyd decoding Ada at 135p');
  });

  it('switches up when the tile grows, and the picture goes on', async () => {
    await cyd.setViewportSize({ width: 1600, height: 1000 });
    await decodesAt(cyd, 'Ada Lovelace', 540, 'Cyd decoding Ada at 540p after her window grew');
    const { tiles } = await e2eeStatus(cyd);
    assert.equal(tiles['Ada Lovelace'].state, 'encrypted', 'her tile still says encrypted');
  });

  it('pauses layers nobody watches at the sender, and resumes one when a tile grows', async () => {
    await bob.getByTestId('layout-toggle').click(); // back to the grid
    await bob.setViewportSize({ width: 420, height: 300 });
    await cyd.setViewportSize({ width: 420, height: 300 });
    await eventually(
      'Ada to pause her 270p and 540p layers',
      async () => {
        const active = await activeLayers(ada);
        if (!(active.q && !active.h && !active.f)) throw new Error(JSON.stringify(active));
        return active;
      },
      { timeout: 30_000, interval: 250 },
    );
    await decodesAt(cyd, 'Ada Lovelace', 135, 'Cyd still decoding Ada at 135p');
    await cyd.setViewportSize({ width: 1600, height: 1000 });
    await decodesAt(cyd, 'Ada Lovelace', 540, 'Cyd decoding Ada at 540p once her window grew again');
    assert.equal((await activeLayers(ada)).f, true, 'Ada sends 540p again');
  });
});
