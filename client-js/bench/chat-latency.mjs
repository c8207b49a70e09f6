// How long an end-to-end encrypted chat message takes from one browser to another, beside a
// baseline in the same run, in real Chromium against a local `veil serve`, two people in a call
// (camera and microphone on):
//
// - chat: the sender's Send click → the message element in the receiver's chat list. The path:
//   clean and MLS-encrypt in wasm, the WebSocket to the server, its relay, the receiver's
//   WebSocket, MLS-decrypt in wasm, the chat model, the DOM.
// - baseline: the sender's Mute click → the receiver's tile showing the microphone off (or on
//   again). The same path through the page, the WebSocket and the server's relay (`publish_state`
//   in, `participant_updated` out), without MLS.
//
// Clicks and arrivals are timestamped in the pages (performance.timeOrigin + performance.now());
// both pages run on this machine, so their clocks are one clock. The two kinds of measurement
// alternate, one at a time. Also timed: the sender's click handler alone (the click runs it
// synchronously: for chat, cleaning, MLS encryption, the WebSocket send and the local render).
// Prints the median and 95th percentile in milliseconds; a benchmark that prints figures, not a
// test.
//
//   node bench/chat-latency.mjs          (after `npm run build` and `cargo build`)
//   N=100 node bench/chat-latency.mjs

import { eventually, join, launchBrowser, startServer, waitForTiles } from '../tests/harness.mjs';

const N = Number(process.env.N ?? 50);

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Records in `page`, by text, when each chat message and each tile microphone change appears. */
function watchArrivals(page) {
  return page.evaluate(() => {
    const now = () => performance.timeOrigin + performance.now();
    window.__chat = new Map();
    window.__mic = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') {
          const tile = r.target;
          if (!tile.classList.contains('self') && r.oldValue !== tile.dataset.microphone) {
            window.__mic.push({ at: now(), state: tile.dataset.microphone });
          }
          continue;
        }
        for (const node of r.addedNodes) {
          if (node.dataset?.testid !== 'chat-message') continue;
          window.__chat.set(node.querySelector('[data-testid=chat-text]').textContent, now());
        }
      }
    }).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-microphone'],
      attributeOldValue: true,
    });
  });
}

/** Clicks `testid` in `page`; returns when (in the page) the click started and how long its handler took. */
function clickAt(page, testid, prepare = null) {
  return page.evaluate(
    ([id, text]) => {
      if (text !== null) document.querySelector('[data-testid=chat-input]').value = text;
      const at = performance.timeOrigin + performance.now();
      document.querySelector(`[data-testid=${id}]`).click();
      return { at, handler: performance.timeOrigin + performance.now() - at };
    },
    [testid, prepare],
  );
}

async function chatOnce(sender, receiver, i) {
  const text = `bench message ${i}`;
  const { at, handler } = await clickAt(sender, 'chat-send', text);
  const seen = await eventually(
    `message ${i} at the receiver`,
    () => receiver.evaluate((t) => window.__chat.get(t), text),
    { interval: 5 },
  );
  return { delivery: seen - at, handler };
}

async function muteOnce(sender, receiver) {
  const before = await receiver.evaluate(() => window.__mic.length);
  const { at, handler } = await clickAt(sender, 'toggle-microphone');
  const seen = await eventually(
    'the microphone change at the receiver',
    () => receiver.evaluate((n) => window.__mic[n]?.at, before),
    { interval: 5 },
  );
  return { delivery: seen - at, handler };
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const room = `chat-bench-${process.pid}`;
  const sender = await join(browser, await server.token({ room, name: 'Sam Sender' }), 'Sam Sender');
  const receiver = await join(browser, await server.token({ room, name: 'Rae Receiver' }), 'Rae Receiver');
  for (const page of [sender, receiver]) await waitForTiles(page, ['Sam Sender', 'Rae Receiver']);
  await eventually('chat open on both pages', async () =>
    (await sender.getByTestId('chat-input').isEnabled()) && (await receiver.getByTestId('chat-input').isEnabled()),
    { timeout: 30_000 },
  );
  await sender.getByTestId('chat-button').click();
  await watchArrivals(receiver);

  const chat = [];
  const mute = [];
  for (let i = 0; i < N + 5; i++) {
    const c = await chatOnce(sender, receiver, i);
    const m = await muteOnce(sender, receiver);
    if (i < 5) continue; // warm-up: first wasm calls, first renders
    chat.push(c);
    mute.push(m);
  }
  const line = (what, v) =>
    `${what}: median ${quantile(v, 0.5).toFixed(1)} ms, p95 ${quantile(v, 0.95).toFixed(1)} ms, ` +
    `min ${Math.min(...v).toFixed(1)} ms, max ${Math.max(...v).toFixed(1)} ms`;
  console.log(`${N} of each, alternating, after 5 warm-up rounds; two browsers in a call, one machine`);
  const delivery = (v) => v.map((x) => x.delivery);
  const handler = (v) => v.map((x) => x.handler);
  console.log(line('chat (Send click → message shown at the receiver)', delivery(chat)));
  console.log(line('baseline (Mute click → receiver\'s tile shows it)', delivery(mute)));
  console.log(line('  sender\'s Send handler', handler(chat)));
  console.log(line('  sender\'s Mute handler', handler(mute)));
  const [c, m] = [quantile(delivery(chat), 0.5), quantile(delivery(mute), 0.5)];
  console.log(`medians: chat − baseline = ${(c - m).toFixed(1)} ms, chat / baseline = ${(c / m).toFixed(2)}×`);
} finally {
  await browser.close();
  await server.stop();
}
