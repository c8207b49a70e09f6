// Timing one join, shared by the join-time benchmarks (join-time.mjs, join-paths.mjs): a
// three-person room where two are in and sending, and the third clicks Join; the page polls
// getStats every 20 ms until an inbound video stream has decoded a frame.

import { join, openPage, waitForMediaFrom, waitForTiles } from '../tests/harness.mjs';

const POLL_MS = 20;
export const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Clicks Join on `page`; returns ms until the first remote video frame is decoded, and the
 * client's phase marks (ms after the click).
 */
async function timeToFirstFrame(page) {
  // Timestamp the click inside the page, when the Join button sees it.
  await page.evaluate(() => {
    document.addEventListener(
      'click',
      (ev) => {
        if (ev.target instanceof Element && ev.target.closest('[data-testid=join]')) {
          window.__joinClickedAt = performance.now();
        }
      },
      { capture: true, once: true },
    );
  });
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  return page.evaluate(async (pollMs) => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      const pc = window.veilDebug?.pc;
      if (pc) {
        let decoded = false;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && (s.framesDecoded ?? 0) > 0) decoded = true;
        });
        if (decoded) {
          const t0 = window.__joinClickedAt;
          // Where the time went: the client's performance marks (first of each), from the click.
          const phases = {};
          for (const m of performance.getEntriesByType('mark')) {
            if (m.name.startsWith('veil:') && !(m.name in phases) && m.startTime >= t0) {
              phases[m.name.slice(5)] = Math.round(m.startTime - t0);
            }
          }
          return { ms: performance.now() - t0, phases };
        }
      }
      await sleep(pollMs);
    }
    throw new Error('no remote video frame decoded within 30 s');
  }, POLL_MS);
}

/**
 * One run in a fresh `room` of `server`, in `browser`: returns the third person's ms from the
 * click to the first decoded remote video frame, and the client's phase marks.
 */
export async function oneRun(server, browser, room, config = {}) {
  const links = await Promise.all(
    NAMES.map((name) => server.token({ room, identity: name.split(' ')[0].toLowerCase(), name })),
  );
  const early = [
    await join(browser, links[0], NAMES[0], NAMES[0], config),
    await join(browser, links[1], NAMES[1], NAMES[1], config),
  ];
  await waitForMediaFrom(early[0], [NAMES[1]]);
  await waitForMediaFrom(early[1], [NAMES[0]]);

  const third = await openPage(browser, NAMES[2], config);
  await third.goto(links[2]);
  await third.getByTestId('name-input').fill(NAMES[2]);
  // The camera preview is up (as when a person looks at it before joining).
  await third
    .locator('.preview-video')
    .evaluate((v) =>
      v.readyState >= 2 ? null : new Promise((r) => v.addEventListener('loadeddata', r, { once: true })),
    );
  const result = await timeToFirstFrame(third);
  await waitForTiles(third, NAMES);
  for (const page of [...early, third]) await page.context().close();
  return result;
}
