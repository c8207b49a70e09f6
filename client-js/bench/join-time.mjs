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

import { DIST_DIR, launchBrowser, startServer } from '../tests/harness.mjs';
import { median, oneRun } from './joining.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const MODES = [
  { label: 'with E2EE', config: {} },
  { label: 'without E2EE', config: { e2ee: false } },
];

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
