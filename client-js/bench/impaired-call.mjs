// Video freezes in a 3-person call when one participant's network loses packets, beside the same
// call without loss, in real Chromium against a local `veil serve` behind `veil-loadtest
// impair` (see docs/impairment.md).
//
// Each run: a fresh server and browser, three people joined (camera and microphone on), then
// DURATION seconds (default 60) measured with LOSS % (default 5) random loss on both directions
// of one participant's path, or none (the baseline). Per viewer and publisher it prints what
// the viewer's browser counted over the window (getStats inbound-rtp): frames decoded, freezes
// (a frame late by 150 ms or more than three frame times) and their total duration, NACKs sent
// and retransmissions received. A benchmark that prints figures, not a test.
//
//   node bench/impaired-call.mjs     (after `npm run build` and `cargo build -p veil -p veil-loadtest`)
//   DURATION=30 LOSS=10 node bench/impaired-call.mjs

import { join, launchBrowser, waitForMediaFrom, waitForTiles } from '../tests/harness.mjs';
import { receiveStats, startImpairedServer, statsDelta } from '../tests/impair.mjs';

const DURATION = Number(process.env.DURATION ?? 60);
const LOSS = Number(process.env.LOSS ?? 5);
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
const IMPAIRED = 'Alan Turing';

async function run(loss) {
  const { server, relay } = await startImpairedServer();
  const browser = await launchBrowser();
  try {
    const pages = new Map();
    const paths = new Map();
    for (const [i, name] of NAMES.entries()) {
      const page = await join(browser, await server.token({ room: 'bench', name }), name);
      pages.set(name, page);
      if (i > 0) await waitForMediaFrom(page, NAMES.slice(0, i));
      paths.set(name, await relay.claim());
    }
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES);
      await waitForMediaFrom(
        page,
        NAMES.filter((n) => n !== name),
      );
    }
    await relay.impair(paths.get(IMPAIRED), { up: { loss }, down: { loss } });
    const before = new Map();
    for (const [name, page] of pages) before.set(name, await receiveStats(page));
    await new Promise((r) => setTimeout(r, DURATION * 1000));
    const rows = [];
    for (const [viewer, page] of pages) {
      const d = statsDelta(before.get(viewer), await receiveStats(page));
      for (const [publisher, s] of Object.entries(d)) rows.push({ viewer, publisher, ...s });
    }
    const links = await relay.report();
    return { rows, links };
  } finally {
    await browser.close();
    await relay.stop();
    await server.stop();
  }
}

function print(label, { rows, links }) {
  console.log(`\n${label}`);
  console.log('viewer         <- publisher       frames  freezes  frozen s  NACKs  RTX rx  lost');
  for (const r of rows) {
    console.log(
      `${r.viewer.padEnd(14)} <- ${r.publisher.padEnd(14)} ${String(r.framesDecoded).padStart(7)}` +
        ` ${String(r.freezeCount).padStart(8)} ${r.totalFreezesDuration.toFixed(2).padStart(9)}` +
        ` ${String(r.nackCount).padStart(6)} ${String(r.retransmitted).padStart(7)} ${String(r.packetsLost).padStart(5)}`,
    );
  }
  const dropped = links.reduce((sum, l) => sum + l.up.lost + l.down.lost, 0);
  console.log(`relay dropped ${dropped} datagrams`);
  const total = (f) => rows.filter(f).reduce((s, r) => [s[0] + r.freezeCount, s[1] + r.totalFreezesDuration], [0, 0]);
  const [n, secs] = total((r) => r.viewer === IMPAIRED || r.publisher === IMPAIRED);
  const [n0, secs0] = total((r) => r.viewer !== IMPAIRED && r.publisher !== IMPAIRED);
  console.log(`streams through ${IMPAIRED}'s path: ${n} freezes, ${secs.toFixed(2)} s frozen (4 streams)`);
  console.log(`the stream between the other two:   ${n0} freezes, ${secs0.toFixed(2)} s frozen (2 streams)`);
}

console.log(`${DURATION} s 3-person calls; ${LOSS} % loss both ways on ${IMPAIRED}'s path vs none`);
const baseline = await run(0);
print('baseline: no loss', baseline);
const lossy = await run(LOSS);
print(`${LOSS} % loss on ${IMPAIRED}'s path (up and down)`, lossy);
