// Encryption cost: worker CPU time per encrypted 720p video frame.
//
// One participant with a 1280×720, 30 fps fake camera and a second one receiving (so the SFU
// forwards and the sender's bandwidth estimate ramps up to a 720p bitrate). With the
// benchmark-only switch `veilConfig.benchEncrypt`, the encoded-transform worker times the SFrame
// encrypt call of every outgoing video frame (20 calls of the same frame on a separate key ring,
// averaged, since performance.now() is coarse in a page that is not cross-origin isolated).
// After a warm-up, prints the median and 95th percentile in microseconds, and the frame sizes.
// A benchmark that prints figures, not a test.
//
//   node build.mjs && node bench/encrypt-cost.mjs
//   WARMUP_S=10 MEASURE_S=20 node bench/encrypt-cost.mjs

import { eventually, join, launchBrowser, startServer, waitForMediaFrom } from '../tests/harness.mjs';

const WARMUP_S = Number(process.env.WARMUP_S ?? 10);
const MEASURE_S = Number(process.env.MEASURE_S ?? 20);
const HD = {
  video: { width: { exact: 1280 }, height: { exact: 720 }, frameRate: { ideal: 30 } },
  benchEncrypt: true,
};

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const links = await Promise.all(
    ['sender', 'viewer'].map((identity) => server.token({ room: 'bench-encrypt', identity, name: identity })),
  );
  const sender = await join(browser, links[0], 'Sender', 'sender', HD);
  const viewer = await join(browser, links[1], 'Viewer', 'viewer');
  await waitForMediaFrom(viewer, ['Sender']);
  const settings = await sender.evaluate(() => {
    const track = window.veilDebug.pc.getSenders().find((s) => s.track?.kind === 'video')?.track;
    return track?.getSettings();
  });
  const timings = () => sender.evaluate(() => window.veilDebug.encryptTimings());
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
  await sleep(WARMUP_S); // setup: let the bitrate ramp up
  const start = (await timings()).videoEncryptUs.length;
  await sleep(MEASURE_S);
  const t = await eventually('timings', timings);
  const us = t.videoEncryptUs.slice(start);
  const bytes = t.videoFrameBytes.slice(start);
  const stats = await sender.evaluate(async () => {
    let out = {};
    (await window.veilDebug.pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video')
        out = { frameWidth: s.frameWidth, frameHeight: s.frameHeight, framesPerSecond: s.framesPerSecond, targetBitrate: s.targetBitrate };
    });
    return out;
  });
  console.log(`camera ${settings?.width}x${settings?.height}; encoder ${JSON.stringify(stats)}`);
  console.log(
    `${us.length} video frames over ${MEASURE_S} s; frame size median ${quantile(bytes, 0.5)} B, p95 ${quantile(bytes, 0.95)} B, max ${Math.max(...bytes)} B`,
  );
  console.log(
    `SFrame encrypt per 720p frame (worker, wasm): median ${quantile(us, 0.5).toFixed(1)} µs, p95 ${quantile(us, 0.95).toFixed(1)} µs`,
  );
  const perKb = us.map((u, i) => (u / bytes[i]) * 1024);
  console.log(`  = median ${quantile(perKb, 0.5).toFixed(2)} µs per KiB`);
} finally {
  await browser.close();
  await server.stop();
}
