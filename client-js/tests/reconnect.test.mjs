// A node that dies mid-call and comes back (a crash, an upgrade, a restart by systemd): the
// pages say they are reconnecting and join again by themselves with the same link, in a new
// encrypted group, and the people see and hear each other again without clicking anything.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { randomHex } from './bots.mjs';
import {
  e2eeStatus,
  eventually,
  freePort,
  join,
  launchBrowser,
  startServer,
  waitForMediaFrom,
  waitForTiles,
} from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper'];

describe('a node that dies mid-call and comes back', { timeout: 120_000 }, () => {
  let browser;
  let server;
  const secret = randomHex();
  let http;

  /** A node on the same address with the same API secret: the links people hold still work. */
  const startNode = () => startServer({ http, env: { VEIL_API_SECRET: secret } });

  before(async () => {
    http = `127.0.0.1:${await freePort()}`;
    server = await startNode();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('brings both people back by themselves, in a new encrypted group', async () => {
    const pages = [];
    for (const name of NAMES) pages.push(await join(browser, await server.token({ room: 'restart', name }), name));
    await waitForMediaFrom(pages[0], [NAMES[1]]);
    await waitForMediaFrom(pages[1], [NAMES[0]]);
    const before = await Promise.all(pages.map(e2eeStatus));

    // The node dies without a word to anyone.
    process.kill(server.pid, 'SIGKILL');
    const died = Date.now();
    await server.stop();
    for (const page of pages) await page.locator('[data-screen=reconnecting]').waitFor({ timeout: 15_000 });
    server = await startNode();

    for (const page of pages) await waitForTiles(page, NAMES, 45_000);
    await waitForMediaFrom(pages[0], [NAMES[1]]);
    await waitForMediaFrom(pages[1], [NAMES[0]]);
    const back = Date.now() - died;
    console.log(`# both people saw and heard each other again ${back} ms after the node was killed (its restart included)`);

    const after = await eventually('both pages in one new encrypted group', async () => {
      const now = await Promise.all(pages.map(e2eeStatus));
      const ok = now.every((s) => s.code && s.code === now[0].code && JSON.stringify(s.members) === JSON.stringify([...NAMES].sort()));
      return ok && now;
    });
    // A new group: not the old one resumed (the server that held it is gone).
    assert.notEqual(after[0].code, before[0].code, 'a new group has a new security code');
    for (const page of pages) assert.equal(await page.locator('[data-screen=error]').count(), 0);
  });
});
