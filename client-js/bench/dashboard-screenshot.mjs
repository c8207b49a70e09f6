// The operator page during a load test, for docs/admin-dashboard.png: a node (VEIL_BIN, release
// build recommended) carries `veil-loadtest run meeting -n N` (VEIL_LOADTEST_BIN) for a minute,
// with a few signaling-only participants reporting quality grades as browsers would; after
// DASHBOARD_WAIT_S seconds of live samples the page is photographed.
//
//   VEIL_BIN=../target/release/veil VEIL_LOADTEST_BIN=../target/release/veil-loadtest \
//     node bench/dashboard-screenshot.mjs [out.png]

import { resolve } from 'node:path';

import { randomHex, reportQuality, startBotMeeting } from '../tests/bots.mjs';
import { CLIENT_DIR, launchBrowser, startServer } from '../tests/harness.mjs';

const out = process.argv[2] ?? resolve(CLIENT_DIR, '../docs/admin-dashboard.png');
const n = Number(process.env.DASHBOARD_PARTICIPANTS ?? 10);
const waitS = Number(process.env.DASHBOARD_WAIT_S ?? 50);

const secret = randomHex();
const adminKey = randomHex();
const server = await startServer({ env: { VEIL_API_SECRET: secret, VEIL_ADMIN_KEY: adminKey } });
const bots = startBotMeeting(server, secret, { n, duration: waitS + 20 });
const grades = ['good', 'good', 'good', 'fair', 'poor'];
const reporters = [];
for (const [i, quality] of grades.entries()) {
  reporters.push(await reportQuality(server, { room: 'quality-reports', identity: `reporter-${i}`, quality }));
}
const browser = await launchBrowser();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  await page.goto(`${server.url}/admin#key=${adminKey}`);
  await page.waitForTimeout(waitS * 1000);
  await page.screenshot({ path: out, fullPage: true });
  const samples = await page.evaluate(() => document.querySelector('[data-panel=people]')?.getAttribute('data-samples'));
  console.log(`wrote ${out}: ${n} load-test participants, ${samples} samples on the page`);
} finally {
  for (const r of reporters) r.ws.close();
  await browser.close();
  await bots.stop();
  await server.stop();
}
