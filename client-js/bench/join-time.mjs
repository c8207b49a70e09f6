// Join time: from clicking "Join" to the first decoded frame of remote video, with end-to-end
// encryption (the default) and without it (`veilConfig.e2ee = false`, a benchmark-only switch),
// in the same run; and the size of the E2EE wasm module the page downloads.
//
// Runs a three-person room RUNS times per mode (a fresh room each time, modes alternating)
// against a local `veil serve`. Two people are already in the room and sending; the third clicks
// Join, and the page itself polls getStats every 20 ms until an inbound video stream has decoded
// a frame. With E2EE that includes loading the wasm module, creating the MLS member, being added
// to the group (a commit by the first participant, a Welcome) and the first decrypted key frame.
// Prints each run and the medians, in milliseconds. A benchmark that prints figures, not a test.
//
//   npm run bench                     (builds the client first)
//   RUNS=10 node bench/join-time.mjs
//
// VEIL_BIN and CHROMIUM are read as by the tests (tests/harness.mjs).

import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { gzipSync } from 'node:zlib';

import {
  DIST_DIR,
  join,
  launchBrowser,
  openPage,
  startServer,
  waitForMediaFrom,
  waitForTiles,
} from '../tests/harness.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const POLL_MS = 20;
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
const MODES = [
  { label: 'with E2EE', config: {} },
  { label: 'without E2EE', config: { e2ee: false } },
];

function median(values) {
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

async function oneRun(server, browser, room, config) {
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

const wasm = readFileSync(joinPath(DIST_DIR, 'assets/veil_e2ee_bg.wasm'));
console.log(
  `E2EE wasm module: ${wasm.length} bytes raw, ${gzipSync(wasm, { level: 9 }).length} bytes gzipped (level 9)`,
);

const server = await startServer();
const browser = await launchBrowser();
const results = new Map(MODES.map((m) => [m.label, []]));
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const mode of MODES) {
      const { ms, phases } = await oneRun(server, browser, `bench-${run}-${mode.config.e2ee === false ? 'clear' : 'e2ee'}`, mode.config);
      results.get(mode.label).push(ms);
      const steps = Object.entries(phases)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      console.log(`run ${run} ${mode.label}: ${ms.toFixed(0)} ms  (${steps})`);
    }
  }
  for (const [label, values] of results) {
    console.log(
      `median of ${values.length} runs ${label}: ${median(values).toFixed(0)} ms (Join click to first decoded remote video frame)`,
    );
  }
} finally {
  await browser.close();
  await server.stop();
}
