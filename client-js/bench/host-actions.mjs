// How fast host actions and screen sharing take effect, each beside its baseline in the same
// run, in real Chromium against a local `veil serve`:
//
// - remove: a host clicks Remove → the removed participant's last packet at another participant;
//   revoke: `veil revoke` starts → the same; baseline: the participant clicks Leave itself.
// - admit: a host clicks Admit → the admitted guest's first decoded frame of the host's camera;
//   baseline: the same guest joining a room without a lobby (click Join → first frame).
// - screen share: the presenter clicks Share → a viewer's first decoded screen frame; and a
//   viewer joining while the screen is shared (click Join → first screen frame); baseline: the
//   same join's first camera frame.
//
// "Last packet" is the largest `lastPacketReceivedTimestamp` of the participant's streams at the
// observer; clicks are timestamped in the page. All pages run on this machine, so their clocks
// are one clock. Prints each run and the medians in milliseconds; a benchmark, not a test.
//
//   node bench/host-actions.mjs          (after `npm run build` and `cargo build`)
//   RUNS=5 node bench/host-actions.mjs

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { join, launchBrowser, openPage, startServer, waitForMediaFrom, waitForTiles, VEIL_BIN } from '../tests/harness.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
let roomSeq = 0;
const fresh = (what) => `${what}-${process.pid}-${roomSeq++}`;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}


/**
 * Starts recording, every 20 ms in the page, the newest packet `page` receives from the
 * participant `pid` (epoch ms), so that the figure survives the streams' stats going away when
 * the SFU renegotiates them out.
 */
function watchPackets(page, pid) {
  return page.evaluate((id) => {
    window.__lastPacket = 0;
    window.__watch = setInterval(async () => {
      const pc = window.veilDebug.pc;
      const mids = new Set(
        pc.getTransceivers().filter((t) => t.receiver.track && window.__owners?.get(t.receiver.track.id) === id).map((t) => t.mid),
      );
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && mids.has(s.mid)) {
          window.__lastPacket = Math.max(window.__lastPacket, s.lastPacketReceivedTimestamp ?? 0);
        }
      });
    }, 20);
  }, pid);
}

/** Remembers which remote track belongs to whom (the tiles know), so it survives the tile. */
function rememberOwners(page) {
  return page.evaluate(() => {
    window.__owners ??= new Map();
    for (const tile of document.querySelectorAll('[data-testid=tile]:not(.self)')) {
      for (const el of tile.querySelectorAll('video, audio')) {
        for (const t of el.srcObject?.getTracks() ?? []) window.__owners.set(t.id, tile.getAttribute('data-participant-id'));
      }
    }
  });
}

/** Polls until `page` decodes a frame satisfying `which`; returns the epoch ms it saw it. */
function firstFrame(page, which) {
  return page.evaluate(async (kind) => {
    for (;;) {
      const pc = window.veilDebug?.pc;
      if (pc) {
        const stats = await pc.getStats();
        const screenTrack = document.querySelector('[data-testid=presentation] video')?.srcObject?.getVideoTracks()[0];
        let seen = false;
        stats.forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video' || !(s.framesDecoded > 0)) return;
          const isScreen = screenTrack && s.trackIdentifier === screenTrack.id;
          if ((kind === 'screen') === Boolean(isScreen)) seen = true;
        });
        if (seen) return performance.timeOrigin + performance.now();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }, which);
}

/** Clicks the element `locator` and returns when the page saw the click (epoch ms). */
async function clickAt(page, locator) {
  await page.evaluate(() => {
    window.__clickedAt = null;
    const stamp = () => (window.__clickedAt = performance.timeOrigin + performance.now());
    document.addEventListener('click', stamp, { capture: true, once: true });
  });
  await locator.click();
  return page.evaluate(() => window.__clickedAt);
}

async function openToJoin(browser, link, name) {
  const page = await openPage(browser, name);
  await page.goto(link);
  await page.getByTestId('name-input').fill(name);
  return page;
}

/** A host and a watcher in a fresh room, and a third participant `target` to act on. */
async function threeInRoom(browser, server, opts = {}) {
  const room = fresh('acts');
  const host = await join(browser, await server.token({ room, name: 'Host', identity: 'host', host: true }), 'Host');
  const watcher = await join(browser, await server.token({ room, name: 'Watcher' }), 'Watcher');
  const target = await join(browser, await server.token({ room, name: 'Target', ...opts }), 'Target');
  await waitForTiles(watcher, ['Host', 'Watcher', 'Target']);
  await waitForMediaFrom(watcher, ['Target']);
  await rememberOwners(watcher);
  const targetId = await target.evaluate(() => window.veilDebug.participantId);
  return { room, host, watcher, target, targetId, close: () => Promise.all([host, watcher, target].map((p) => p.context().close())) };
}

/** Waits until no packet from the watched participant arrived for 2 s; returns the last one's time. */
async function mediaStopped(watcher) {
  let last = 0;
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await watcher.evaluate(() => window.__lastPacket);
    if (now > last) [last, since] = [now, Date.now()];
    else if (Date.now() - since > 2_000) return last;
  }
}

const results = { remove: [], revoke: [], leave: [], admit: [], joinNoLobby: [], share: [], joinScreen: [], joinCamera: [] };

async function cutOnce(browser, server, how) {
  const r = await threeInRoom(browser, server);
  await watchPackets(r.watcher, r.targetId);
  let t0;
  if (how === 'remove') {
    await r.host.getByTestId('people-button').click();
    t0 = await clickAt(r.host, r.host.locator('[data-testid=person]', { hasText: 'Target' }).getByTestId('remove'));
  } else if (how === 'leave') {
    t0 = await clickAt(r.target, r.target.getByTestId('leave'));
  } else {
    t0 = Date.now();
    await promisify(execFile)(VEIL_BIN, ['revoke', '--room', r.room, '--identity', 'target', '--url', server.url], {
      env: { ...process.env, VEIL_DATA_DIR: server.dataDir },
    });
  }
  const last = await mediaStopped(r.watcher);
  await r.close();
  return Math.max(0, last - t0);
}

async function admitOnce(browser, server, lobby) {
  const room = fresh('lobby');
  const host = await join(browser, await server.token({ room, name: 'Host', identity: 'host', host: true }), 'Host');
  if (lobby) {
    await host.getByTestId('people-button').click();
    await host.getByTestId('policy-lobby').check();
    await host.getByText('The lobby is on: a host admits newcomers.').waitFor();
  }
  const guest = await openToJoin(browser, await server.token({ room, name: 'Guest' }), 'Guest');
  let t0;
  if (lobby) {
    await guest.getByRole('button', { name: 'Join', exact: true }).click();
    await guest.locator('[data-screen=lobby]').waitFor();
    const entry = host.locator('[data-testid=lobby-entry]', { hasText: 'guest' });
    await entry.waitFor();
    t0 = await clickAt(host, entry.getByTestId('admit'));
  } else {
    t0 = await clickAt(guest, guest.getByRole('button', { name: 'Join', exact: true }));
  }
  const first = await firstFrame(guest, 'camera');
  await Promise.all([host, guest].map((p) => p.context().close()));
  return first - t0;
}

async function shareOnce(browser, server) {
  const room = fresh('share');
  const host = await join(browser, await server.token({ room, name: 'Host', identity: 'host', host: true }), 'Host');
  const viewer = await join(browser, await server.token({ room, name: 'Viewer' }), 'Viewer');
  await waitForMediaFrom(viewer, ['Host']);
  const firstScreen = firstFrame(viewer, 'screen');
  const t0 = await clickAt(host, host.getByTestId('share-screen'));
  results.share.push((await firstScreen) - t0);
  // A latecomer joins while the screen is shared.
  const late = await openToJoin(browser, await server.token({ room, name: 'Late' }), 'Late');
  const screen = firstFrame(late, 'screen');
  const camera = firstFrame(late, 'camera');
  const t1 = await clickAt(late, late.getByRole('button', { name: 'Join', exact: true }));
  results.joinScreen.push((await screen) - t1);
  results.joinCamera.push((await camera) - t1);
  await Promise.all([host, viewer, late].map((p) => p.context().close()));
}

const server = await startServer();
const browser = await launchBrowser();
try {
  for (let i = 0; i < RUNS; i++) {
    results.remove.push(await cutOnce(browser, server, 'remove'));
    results.revoke.push(await cutOnce(browser, server, 'revoke'));
    results.leave.push(await cutOnce(browser, server, 'leave'));
    results.admit.push(await admitOnce(browser, server, true));
    results.joinNoLobby.push(await admitOnce(browser, server, false));
    await shareOnce(browser, server);
    process.stdout.write(`run ${i + 1}/${RUNS}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(v.at(-1))])))}\n`);
  }
} finally {
  await browser.close();
  await server.stop();
}

const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const row = (label, value, base, baseLabel) =>
  `${label.padEnd(48)} ${String(Math.round(value)).padStart(6)} ms` +
  (base === undefined
    ? ''
    : base >= 1
      ? `   (${baseLabel} ${Math.round(base)} ms, ratio ${(value / base).toFixed(2)})`
      : `   (${baseLabel} under 1 ms: the leaver's own client stops sending)`);
console.log(`\nmedians over ${RUNS} runs`);
console.log(row('remove → removed participant’s last packet', m.remove, m.leave, 'leave:'));
console.log(row('veil revoke → revoked participant’s last packet', m.revoke, m.leave, 'leave:'));
console.log(row('admit → first decoded frame', m.admit, m.joinNoLobby, 'join without lobby:'));
console.log(row('share click → first screen frame at a viewer', m.share));
console.log(row('join while shared → first screen frame', m.joinScreen, m.joinCamera, 'first camera frame:'));
