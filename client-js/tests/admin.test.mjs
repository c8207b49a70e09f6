// The operator page /admin (docs/metrics.md, "The dashboard") against a node where bots meet:
// with the key in the fragment it draws every panel from live samples; with a wrong key it
// says the key was refused and draws nothing; the API wants the key.
//
// Saves a screenshot to client-js/test-artifacts/admin-dashboard.png, and with VEIL_UPDATE_DOCS=1
// to docs/admin-dashboard.png as well.

import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { randomHex, reportQuality, startBotMeeting } from './bots.mjs';
import { CLIENT_DIR, eventually, launchBrowser, startServer } from './harness.mjs';

const ARTIFACTS = join(CLIENT_DIR, 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'admin-dashboard.png');
const DOCS_SCREENSHOT = resolve(CLIENT_DIR, '../docs/admin-dashboard.png');
const PANELS = ['people', 'quality', 'delay', 'bandwidth', 'cpu', 'memory'];

const secret = randomHex();
const adminKey = randomHex();

/** What the page shows: its state, the headline numbers, each panel's samples and canvases. */
function pageState(page) {
  return page.evaluate(() => ({
    state: document.body.getAttribute('data-state'),
    status: document.querySelector('[data-testid=status]')?.textContent ?? null,
    participants: document.querySelector('[data-testid=headline-participants]')?.textContent ?? null,
    rooms: document.querySelector('[data-testid=headline-rooms]')?.textContent ?? null,
    fair: document.querySelector('[data-panel=quality] [data-series=Fair] b')?.textContent ?? null,
    panels: Object.fromEntries(
      [...document.querySelectorAll('[data-panel]')].map((p) => [
        p.getAttribute('data-panel'),
        { samples: Number(p.getAttribute('data-samples')), canvases: p.querySelectorAll('canvas').length },
      ]),
    ),
    canvases: document.querySelectorAll('canvas').length,
    form: document.querySelector('[data-testid=key-form]') !== null,
    url: location.href,
  }));
}

describe('the operator page', () => {
  let server;
  let bots;
  let browser;
  let reporter;

  before(async () => {
    server = await startServer({ env: { VEIL_API_SECRET: secret, VEIL_ADMIN_KEY: adminKey } });
    bots = startBotMeeting(server, secret, { n: 2, duration: 30 });
    browser = await launchBrowser();
    // The bots send no quality reports; one signaling-only participant does, as a browser would.
    reporter = await reportQuality(server, { room: 'admin-quality', identity: 'reporter', quality: 'fair' });
  });

  after(async () => {
    reporter?.ws.close();
    await browser?.close();
    await bots?.stop();
    await server?.stop();
  });

  it('shows the node live, with the key from the fragment', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${server.url}/admin#key=${adminKey}`);
    const shown = await eventually(
      'every panel drawn from ≥ 2 live samples, participants in the headline, the fair report in quality',
      async () => {
        const s = await pageState(page);
        const drawn = PANELS.every((p) => s.panels[p]?.canvases >= 1 && s.panels[p]?.samples >= 2);
        if (!(s.state === 'live' && drawn && Number(s.participants) >= 1 && Number(s.fair) >= 1)) {
          throw new Error(`${JSON.stringify(s)}; bots: ${bots.output().slice(-300)}`);
        }
        return s;
      },
      { timeout: 40_000, interval: 500 },
    );
    assert.ok(!shown.url.includes(adminKey), 'the key is gone from the address bar');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('veil-admin-key')), adminKey);
    // The samples keep coming without a reload.
    const before = shown.panels.people.samples;
    await eventually(
      'a newer sample',
      async () => (await pageState(page)).panels.people.samples > before,
      { timeout: 10_000, interval: 500 },
    );
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (process.env.VEIL_UPDATE_DOCS === '1') await copyFile(SCREENSHOT, DOCS_SCREENSHOT);
    assert.deepEqual(errors, [], 'no errors on the page');
    await context.close();
  });

  it('says a wrong key was refused, and draws nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/admin#key=${randomHex()}`);
    const s = await eventually(
      'the refusal',
      async () => {
        const s = await pageState(page);
        if (s.state !== 'refused') throw new Error(JSON.stringify(s));
        return s;
      },
      { timeout: 10_000, interval: 200 },
    );
    assert.match(s.status, /The admin key was refused/);
    assert.ok(s.form, 'the form asks for the key again');
    assert.equal(s.canvases, 0, 'no charts');
    assert.deepEqual(s.panels, {});
    assert.equal(await page.evaluate(() => sessionStorage.getItem('veil-admin-key')), null, 'the wrong key is forgotten');
    // The form takes the right one.
    await page.getByTestId('key-input').fill(adminKey);
    await page.getByRole('button', { name: 'Show the dashboard' }).click();
    await eventually('live after the right key', async () => (await pageState(page)).state === 'live', { timeout: 10_000 });
    await context.close();
  });

  it('says when it cannot reach the server, keeps retrying, and comes back by itself', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/admin#key=${adminKey}`);
    await eventually('live', async () => (await pageState(page)).state === 'live', { timeout: 10_000 });
    await page.route('**/admin/api/stats', (route) => route.abort('connectionrefused'));
    const s = await eventually(
      'the unreachable notice',
      async () => {
        const s = await pageState(page);
        if (s.state !== 'unreachable') throw new Error(JSON.stringify(s));
        return s;
      },
      { timeout: 10_000, interval: 200 },
    );
    assert.match(s.status, /Cannot reach the server/);
    assert.ok(s.canvases > 0, 'the last charts stay while it retries');
    await page.unroute('**/admin/api/stats');
    await eventually('live again', async () => (await pageState(page)).state === 'live', { timeout: 10_000 });
    await context.close();
  });

  it('asks for the key when it has none', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/admin`);
    await page.getByTestId('key-form').waitFor();
    const s = await pageState(page);
    assert.equal(s.state, 'need-key');
    assert.equal(s.canvases, 0);
    await context.close();
  });

  it('keeps the stats API behind the key', async () => {
    assert.equal((await fetch(`${server.url}/admin/api/stats`)).status, 401);
    assert.equal(
      (await fetch(`${server.url}/admin/api/stats`, { headers: { Authorization: `Bearer ${randomHex()}` } })).status,
      401,
    );
    const res = await fetch(`${server.url}/admin/api/stats`, { headers: { Authorization: `Bearer ${adminKey}` } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.interval_ms, 2000);
    assert.ok(Array.isArray(body.samples) && body.samples.length >= 1);
    for (const key of ['time', 'rooms', 'participants', 'lobby', 'quality', 'forwarding_delay_ms', 'bits_in_per_second',
      'bits_out_per_second', 'packets_out_per_second', 'cpu_cores', 'memory_bytes']) {
      assert.ok(key in body.samples.at(-1), `samples carry ${key}: ${JSON.stringify(body.samples.at(-1))}`);
    }
    assert.ok(Array.isArray(body.worst_subscribers));
  });
});
