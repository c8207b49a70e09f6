// Join time by network path: direct UDP, ICE-TCP (UDP blocked) and a TURN relay over TCP (UDP
// and direct TCP blocked), in the same run. Each path has its own network namespace in front of
// its own `veil serve` (tests/netns.mjs), its own Chromium inside that namespace and, for TURN,
// a real coturn (tests/coturn.mjs). Runs alternate between the paths, RUNS per path (default 5);
// each is the third person of a fresh room clicking Join, timed to the first decoded remote
// video frame (bench/joining.mjs). Prints each run and the medians. Needs root, ip, nft and
// turnserver (`scripts/setup.sh test`). A benchmark that prints figures, not a test.
//
//   VEIL_BIN=../target/release/veil node bench/join-paths.mjs

import { randomBytes } from 'node:crypto';

import { startCoturn } from '../tests/coturn.mjs';
import { freePort, launchBrowser, startServer } from '../tests/harness.mjs';
import { blockedNamespace } from '../tests/netns.mjs';
import { median, oneRun } from './joining.mjs';

const RUNS = Number(process.env.RUNS ?? 5);

/** A namespace, server and browser for one path; `close()` undoes them. */
async function setUp(path) {
  const blocked = { udp: {}, tcp: { blockUdp: true }, turn: { blockUdp: true, blockTcp: true } };
  const net = await blockedNamespace({ blockUdp: false, ...blocked[path] });
  const parts = { net };
  try {
    const httpPort = await freePort(net.hostAddr);
    const options = { http: `${net.hostAddr}:${httpPort}`, udp: `${net.hostAddr}:0`, args: [], env: {} };
    if (path === 'tcp') options.args.push('--tcp', `${net.hostAddr}:0`);
    if (path === 'turn') {
      const turnPort = await freePort(net.hostAddr);
      const secret = randomBytes(24).toString('hex');
      await net.allowTcp(httpPort);
      await net.allowTcp(turnPort);
      parts.coturn = await startCoturn(net.hostAddr, turnPort, secret);
      options.args.push('--turn-url', `turn:${net.hostAddr}:${turnPort}?transport=tcp`);
      options.env.VEIL_TURN_SECRET = secret;
    }
    parts.server = await startServer(options);
    const origin = new URL(parts.server.url).origin;
    parts.browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${origin}`], {
      executablePath: net.chromium,
    });
  } catch (err) {
    await tearDown(parts);
    throw err;
  }
  return parts;
}

async function tearDown({ browser, server, coturn, net }) {
  await browser?.close();
  await server?.stop();
  await coturn?.stop();
  await net?.close();
}

const PATHS = ['udp', 'tcp', 'turn'];
const LABELS = { udp: 'direct UDP', tcp: 'ICE-TCP (UDP blocked)', turn: 'TURN over TCP (UDP and direct TCP blocked)' };
const setups = new Map();
try {
  for (const path of PATHS) setups.set(path, await setUp(path));
  const results = new Map(PATHS.map((p) => [p, []]));
  for (let run = 1; run <= RUNS; run++) {
    for (const path of PATHS) {
      const { server, browser } = setups.get(path);
      const { ms } = await oneRun(server, browser, `paths-${path}-${run}`);
      results.get(path).push(ms);
      console.log(`run ${run} ${LABELS[path]}: ${ms.toFixed(0)} ms`);
    }
  }
  const udp = median(results.get('udp'));
  for (const path of PATHS) {
    const m = median(results.get(path));
    console.log(
      `median of ${RUNS} ${LABELS[path]}: ${m.toFixed(0)} ms (Join click to first decoded remote video; ${(m / udp).toFixed(2)}× direct UDP)`,
    );
  }
} finally {
  for (const parts of setups.values()) await tearDown(parts);
}
