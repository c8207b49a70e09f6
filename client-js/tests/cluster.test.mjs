// Two nodes on one real Redis, behind a load balancer that hands each signaling connection to
// the next node in turn: two people whose connections reach different nodes meet in one room
// (one node relays to the room's home); when the home node is killed, the room is placed on
// the live node and both people are back, by themselves, in a new encrypted group.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { randomHex } from './bots.mjs';
import { startBalancer, startRedis } from './cluster.mjs';
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

/** The node's `veil_rooms` gauge: 1 on the room's home, 0 elsewhere. */
async function roomsOn(node) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('veil_rooms '));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('two nodes on one Redis', { timeout: 150_000 }, () => {
  let redis;
  let balancer;
  let browser;
  const nodes = [];
  const secret = randomHex();

  before(async () => {
    redis = await startRedis();
    for (const id of ['node-a', 'node-b']) {
      const http = `127.0.0.1:${await freePort()}`;
      const args = ['--redis-url', redis.url, '--node-id', id];
      nodes.push({ id, http, server: await startServer({ http, args, env: { VEIL_API_SECRET: secret } }) });
    }
    balancer = await startBalancer(nodes.map((n) => n.http));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    for (const node of nodes) await node.server?.stop();
    await balancer?.close();
    await redis?.stop();
  });

  it('meets in one room across nodes, and comes back on the live node when the home dies', async () => {
    // Both join through the balancer: the first connection reaches one node, the second the other.
    const pages = [];
    for (const name of NAMES) {
      const link = (await nodes[0].server.token({ room: 'two-nodes', name })).replace(nodes[0].server.url, balancer.url);
      pages.push(await join(browser, link, name));
    }
    assert.deepEqual(balancer.wsCounts(), [1, 1], 'each node took one of the two connections');
    for (const page of pages) await waitForTiles(page, NAMES);
    await waitForMediaFrom(pages[0], [NAMES[1]]);
    await waitForMediaFrom(pages[1], [NAMES[0]]);
    const rooms = await Promise.all(nodes.map((n) => roomsOn(n.server)));
    assert.deepEqual([...rooms].sort(), [0, 1], `one node holds the room: ${rooms}`);
    const before = await Promise.all(pages.map(e2eeStatus));

    // The room's home dies without a word.
    const home = nodes[rooms.indexOf(1)];
    const live = nodes[rooms.indexOf(0)];
    process.kill(home.server.pid, 'SIGKILL');
    const killed = Date.now();
    await home.server.stop();
    home.server = null;

    for (const page of pages) await waitForTiles(page, NAMES, 60_000);
    await waitForMediaFrom(pages[0], [NAMES[1]]);
    await waitForMediaFrom(pages[1], [NAMES[0]]);
    const back = Date.now() - killed;
    console.log(`# both people saw and heard each other again ${back} ms after the room's node was killed`);
    assert.equal(await roomsOn(live.server), 1, 'the live node holds the room now');
    const after = await eventually('both pages in one new encrypted group', async () => {
      const now = await Promise.all(pages.map(e2eeStatus));
      const same = now.every((s) => s.code && s.code === now[0].code);
      return same && now.every((s) => JSON.stringify(s.members) === JSON.stringify([...NAMES].sort())) && now;
    });
    assert.notEqual(after[0].code, before[0].code, 'a new group, with a new security code');
  });
});
