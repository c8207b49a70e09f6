// Hosts and guests in real Chromium against a real `veil serve`: a host shares a screen and the
// others see it large at its own size; a guest without the screen grant cannot share (no
// button, and a hand-made offer is refused); the lobby admits and denies; a host mutes and
// removes; the operator's revocation cuts a live participant and the others' security code
// changes with the group.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';

import {
  e2eeStatus,
  errorScreen,
  eventually,
  join,
  launchBrowser,
  openPage,
  openPeople,
  personRow,
  remoteMedia,
  startServer,
  waitForMediaFrom,
  waitForTiles,
} from './harness.mjs';

/** What `page` shows of the presented screen: whose, and what it decodes of it. */
function presentation(page) {
  return page.evaluate(async () => {
    const el = document.querySelector('[data-testid=presentation]');
    if (!el || el.hidden) return null;
    const track = el.querySelector('video')?.srcObject?.getVideoTracks()[0];
    let stats = null;
    (await window.veilDebug?.pc.getStats())?.forEach((s) => {
      if (s.type === 'inbound-rtp' && track && s.trackIdentifier === track.id) stats = s;
    });
    return {
      participantId: el.getAttribute('data-participant-id'),
      label: el.querySelector('[data-testid=presentation-label]')?.textContent ?? '',
      framesDecoded: stats?.framesDecoded ?? 0,
      width: stats?.frameWidth ?? 0,
      height: stats?.frameHeight ?? 0,
    };
  });
}

/** The size of the screen `page` shares, and its content hint, from its sender. */
function sharedSurface(page) {
  return page.evaluate(() => {
    const sender = window.veilDebug.pc.getSenders().find((s) => s.track?.contentHint === 'detail');
    const { width, height } = sender?.track?.getSettings() ?? {};
    return sender ? { width, height, hint: sender.track.contentHint } : null;
  });
}

/** Audio packets `page` has received from the participant on the tile named `name`. */
function audioPacketsFrom(page, name) {
  return page.evaluate(async (who) => {
    const tile = [...document.querySelectorAll('[data-testid=tile]')].find(
      (t) => t.querySelector('[data-testid=tile-name]').textContent.trim() === who,
    );
    const track = tile?.querySelector('audio')?.srcObject?.getAudioTracks()[0];
    let packets = 0;
    (await window.veilDebug.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && track && s.trackIdentifier === track.id) packets = s.packetsReceived;
    });
    return packets;
  }, name);
}

/** Opens `link`, joins as `name`, and expects the lobby. */
async function joinToLobby(browser, link, name) {
  const page = await openPage(browser, name);
  await page.goto(link);
  await page.getByTestId('name-input').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('[data-screen=lobby]').waitFor();
  return page;
}

describe('hosts and guests', { timeout: 420_000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  describe('screen sharing', () => {
    const room = 'design-review';
    const pages = new Map();

    before(async () => {
      const host = await server.token({ room, name: 'Dr Ada', identity: 'ada', host: true });
      const grace = await server.token({ room, name: 'Grace Hopper' });
      const alan = await server.token({ room, name: 'Alan Turing' });
      pages.set('Dr Ada', await join(browser, host, 'Dr Ada'));
      pages.set('Grace Hopper', await join(browser, grace, 'Grace Hopper'));
      pages.set('Alan Turing', await join(browser, alan, 'Alan Turing'));
      for (const page of pages.values()) await waitForTiles(page, [...pages.keys()]);
    });

    after(async () => {
      for (const page of pages.values()) await page.context().close();
    });

    it('the host shares a screen; both others see it large, at its own size, with the camera still in the grid', async () => {
      const host = pages.get('Dr Ada');
      const hostId = await host.evaluate(() => window.veilDebug.participantId);
      await host.getByTestId('share-screen').click();
      await host.getByTestId('sharing-banner').waitFor();
      const surface = await eventually('a shared screen', () => sharedSurface(host));
      assert.equal(surface.hint, 'detail');
      assert.ok(surface.width >= 640 && surface.height >= 360, JSON.stringify(surface));

      for (const name of ['Grace Hopper', 'Alan Turing']) {
        const page = pages.get(name);
        const shown = await eventually(
          `${name} decodes the screen at ${surface.width}x${surface.height}`,
          async () => {
            const p = await presentation(page);
            if (!(p?.framesDecoded > 10 && p.width === surface.width && p.height === surface.height)) {
              throw new Error(JSON.stringify(p));
            }
            return p;
          },
          { timeout: 40_000, interval: 500 },
        );
        assert.equal(shown.participantId, hostId);
        assert.equal(shown.label, 'Dr Ada is presenting');
        // The camera goes on in the grid, on its own track.
        const media = await waitForMediaFrom(page, ['Dr Ada']);
        assert.ok(media['Dr Ada'].framesDecoded > 0);
        // Decrypted under the screen's own SFrame context (2).
        const frames = await page.evaluate(() => window.veilDebug.frames);
        assert.ok(
          frames.receivers.some((r) => r.contextId === 2 && r.decrypted > 0),
          JSON.stringify(frames.receivers),
        );
      }
    });

    it('the screen keeps flowing with the presenter’s camera off, and stops when they stop sharing', async () => {
      const host = pages.get('Dr Ada');
      await host.getByTestId('toggle-camera').click();
      const grace = pages.get('Grace Hopper');
      const before = (await presentation(grace)).framesDecoded;
      await eventually('more screen frames with the camera off', async () => {
        const p = await presentation(grace);
        return p && p.framesDecoded > before + 10;
      }, { timeout: 20_000, interval: 500 });

      await host.getByTestId('stop-share').click();
      await host.getByTestId('sharing-banner').waitFor({ state: 'hidden' });
      for (const name of ['Grace Hopper', 'Alan Turing']) {
        await eventually(`${name} back to the grid`, async () => (await presentation(pages.get(name))) === null);
      }
    });

    it('a participant without the screen grant has no share button, and the server refuses a hand-made screen offer', async () => {
      const grace = pages.get('Grace Hopper');
      assert.equal(await grace.getByTestId('share-screen').isVisible(), false);
      assert.equal(await pages.get('Dr Ada').getByTestId('share-screen').isVisible(), true);

      // A real browser's offer with a third sending m-line, sent over a bare WebSocket by
      // someone whose link grants microphone and camera only.
      const sdp = await grace.evaluate(async () => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('audio', { direction: 'sendonly' });
        pc.addTransceiver('video', { direction: 'sendonly' });
        pc.addTransceiver('video', { direction: 'sendonly' });
        const offer = await pc.createOffer();
        pc.close();
        return offer.sdp;
      });
      const link = await server.token({ room, name: 'Mallory', identity: 'mallory' });
      const token = new URL(link).hash.match(/token=([^&]+)/)[1];
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      const inbox = [];
      ws.on('message', (data) => inbox.push(JSON.parse(String(data))));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const next = (type) =>
        eventually(`a ${type} message`, () => {
          const i = inbox.findIndex((m) => m.type === type);
          return i >= 0 ? inbox.splice(i, 1)[0] : null;
        });
      const send = (msg) => ws.send(JSON.stringify({ v: 2, ...msg }));
      send({ type: 'join', room, token });
      await next('joined');
      send({ type: 'offer', sdp, sources: { 2: 'screen' } });
      const labelled = await next('error');
      assert.equal(labelled.code, 'not_allowed');
      assert.equal(labelled.fatal, false);
      assert.match(labelled.message, /screen/);
      // Passing the screen off as a second camera fails too.
      send({ type: 'offer', sdp, sources: {} });
      assert.match((await next('error')).message, /more than one camera/);
      ws.close();
      // Nothing of it reached the others: no screen is presented anywhere.
      assert.equal(await presentation(pages.get('Alan Turing')), null);
    });
  });

  describe('lobby and host controls', () => {
    const room = 'clinic';
    let host;
    const links = {};

    before(async () => {
      links.host = await server.token({ room, name: 'Dr Ada', identity: 'ada', host: true });
      links.pat = await server.token({ room, name: 'Pat', identity: 'pat' });
      links.eve = await server.token({ room, name: 'Eve', identity: 'eve' });
      links.sam = await server.token({ room, name: 'Sam', identity: 'sam', bypassLobby: true });
      host = await join(browser, links.host, 'Dr Ada');
    });

    it('a host turns the lobby on; a guest waits seeing nothing of the room, is admitted, and joins the call', async () => {
      await openPeople(host);
      await host.getByTestId('policy-lobby').check();
      await host.getByText('The lobby is on: a host admits newcomers.').waitFor();
      const pat = await joinToLobby(browser, links.pat, 'Pat');
      assert.match(await pat.getByTestId('notice-title').textContent(), /Waiting for a host/);
      // The host sees who waits, by the identity the server authenticated.
      const entry = host.locator('[data-testid=lobby-entry]', { hasText: 'pat' });
      await entry.waitFor();
      // Waiting, Pat has no media connection and no group.
      assert.equal(await pat.evaluate(() => window.veilDebug ?? null), null);
      await entry.getByTestId('admit').click();
      await pat.locator('[data-screen=call]').waitFor();
      await waitForTiles(pat, ['Dr Ada', 'Pat']);
      await waitForMediaFrom(pat, ['Dr Ada']);
    });

    it('a host denies a guest, who is told so', async () => {
      const eve = await joinToLobby(browser, links.eve, 'Eve');
      const entry = host.locator('[data-testid=lobby-entry]', { hasText: 'eve' });
      await entry.getByTestId('deny').click();
      assert.equal(await errorScreen(eve, 'denied'), 'A host did not let you in');
      await eve.context().close();
    });

    it('a host mutes a participant: the SFU forwards nothing until they unmute themselves', async () => {
      const sam = await join(browser, links.sam, 'Sam');
      const pat = (await browser.contexts()).flatMap((c) => c.pages()).find((p) => p.url() === links.pat);
      await waitForTiles(sam, ['Dr Ada', 'Pat', 'Sam']);
      await waitForMediaFrom(sam, ['Pat']);
      await personRow(host, 'Pat').getByTestId('mute-microphone').click();
      // Pat's own client turns the microphone off and says why.
      await pat.locator('[data-testid=toggle-microphone][aria-pressed=true]').waitFor();
      await pat.getByText('A host turned off your microphone.').waitFor();
      await eventually('Sam sees Pat muted', async () => (await remoteMedia(sam)).Pat?.microphone === false);
      // Pat turns it back on, unmuting the participant's own way... but first, nothing flows.
      const stalled = await audioPacketsFrom(sam, 'Pat');
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok((await audioPacketsFrom(sam, 'Pat')) - stalled < 5, 'no audio from Pat while muted');
      await pat.getByTestId('toggle-microphone').click();
      await eventually('Pat audible again', async () => (await audioPacketsFrom(sam, 'Pat')) > stalled + 20, {
        timeout: 15_000,
      });
    });

    it('a host removes a participant, whose link then cannot rejoin', async () => {
      const pat = (await browser.contexts()).flatMap((c) => c.pages()).find((p) => p.url() === links.pat);
      await personRow(host, 'Pat').getByTestId('remove').click();
      assert.equal(await errorScreen(pat, 'removed'), 'You were removed from the meeting');
      await waitForTiles(host, ['Dr Ada', 'Sam']);
      // The same link again: refused.
      await pat.goto('about:blank');
      await pat.goto(links.pat);
      await pat.getByTestId('name-input').fill('Pat');
      await pat.getByRole('button', { name: 'Join', exact: true }).click();
      assert.equal(await errorScreen(pat, 'revoked'), 'Your access to this meeting was revoked');
      await pat.context().close();
    });

    it('the operator revokes a live participant; the group moves on and the others’ security code changes', async () => {
      const sam = (await browser.contexts()).flatMap((c) => c.pages()).find((p) => p.url() === links.sam);
      const before = await eventually('an agreed code', async () => {
        const s = await e2eeStatus(host);
        return s.members.length === 2 && s.headerCode ? s : null;
      });
      const out = await server.revoke({ room, identity: 'sam' });
      assert.match(out, /1 live participant/);
      assert.equal(await errorScreen(sam, 'revoked'), 'Your access to this meeting was revoked');
      const afterRevoke = await eventually('the host alone in a new epoch', async () => {
        const s = await e2eeStatus(host);
        return s.members.length === 1 && s.epoch > before.epoch ? s : null;
      });
      assert.notEqual(afterRevoke.headerCode, before.headerCode, 'the security code changed');
      await waitForTiles(host, ['Dr Ada']);
    });
  });
});
