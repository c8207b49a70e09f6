// A participant whose browser dies (no `leave`, no goodbye) disappears from the others' grids
// within a few seconds: the server notices the closed WebSocket.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  join,
  launchBrowser,
  launchKillableBrowser,
  startServer,
  waitForMediaFrom,
  waitForTiles,
} from './harness.mjs';

const STAYING = ['Ada Lovelace', 'Grace Hopper'];
const VANISHING = 'Alan Turing';

describe('a participant whose browser is killed', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let doomed;
  const pages = new Map();

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    doomed = await launchKillableBrowser();
    for (const name of STAYING) {
      const link = await server.token({ room: 'standup', name });
      pages.set(name, await join(browser, link, name));
    }
    const link = await server.token({ room: 'standup', identity: 'alan', name: VANISHING });
    pages.set(VANISHING, await join(doomed.browser, link, VANISHING));
  });

  after(async () => {
    await doomed?.close();
    await browser?.close();
    await server?.stop();
  });

  it('is in the meeting with audio and video first', async () => {
    const all = [...STAYING, VANISHING];
    for (const [name, page] of pages) {
      await waitForTiles(page, all);
      await waitForMediaFrom(
        page,
        all.filter((n) => n !== name),
      );
    }
  });

  it('is dropped from the other grids within a few seconds', async (t) => {
    await doomed.kill();
    const started = Date.now();
    await Promise.all(STAYING.map((name) => waitForTiles(pages.get(name), STAYING, 8_000)));
    const took = Date.now() - started;
    t.diagnostic(`the others dropped the vanished tile after ${took} ms`);
    assert.ok(took < 8_000, `took ${took} ms`);
    // The two who stayed still hear and see each other.
    for (const name of STAYING) {
      await waitForMediaFrom(
        pages.get(name),
        STAYING.filter((n) => n !== name),
      );
    }
  });
});
