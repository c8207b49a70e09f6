// Two nodes on one real Redis, behind a load balancer that hands each signaling connection to
// the next node in turn: two people whose connections reach different nodes meet in one room
// (one node relays to the room's home); when the home node is killed, the room is placed on
// the live node and both people are back, by themselves, in a new encrypted group; and someone
// a host removed stays out after the room moved.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { randomHex } from './bots.mjs';
import { startBalancer, startRedis } from './cluster.mjs';
import {
  e2eeStatus,
  errorScreen,
  eventually,
  freePort,
  join,
  launchBrowser,
  openPeople,
  personRow,
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

  /** Starts (or starts again) `node` in the fleet, with the deployment's shared secret. */
  async function startNode(node) {
    const args = ['--redis-url', redis.url, '--node-id', node.id];
    node.server = await startServer({ http: node.http, args, env: { VEIL_API_SECRET: secret } });
  }

  /** A link of `server` for `room`, through the balancer. */
  async function link(server, claims) {
    return (await server.token(claims)).replace(server.url, balancer.url);
  }

  /** The node holding the room now (its `veil_rooms` is 1), and the other one. */
  async function homeAndOther() {
    const rooms = await Promise.all(nodes.map((n) => roomsOn(n.server)));
    assert.deepEqual([...rooms].sort(), [0, 1], `one node holds the room: ${rooms}`);
    return [nodes[rooms.indexOf(1)], nodes[rooms.indexOf(0)]];
  }

  /** Kills `node` without a word; returns when. */
  async function kill(node) {
    process.kill(node.server.pid, 'SIGKILL');
    const at = Date.now();
    await node.server.stop();
    node.server = null;
    return at;
  }

  before(async () => {
    redis = await startRedis();
    for (const id of ['node-a', 'node-b']) {
      const http = `127.0.0.1:${await freePort()}`;
      const node = { id, http };
      nodes.push(node);
      await startNode(node);
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
    for (const name of NAMES) pages.push(await join(browser, await link(nodes[0].server, { room: 'two-nodes', name }), name));
    assert.deepEqual(balancer.wsCounts(), [1, 1], 'each node took one of the two connections');
    for (const page of pages) await waitForTiles(page, NAMES);
    await waitForMediaFrom(pages[0], [NAMES[1]]);
    await waitForMediaFrom(pages[1], [NAMES[0]]);
    const [home, live] = await homeAndOther();
    const before = await Promise.all(pages.map(e2eeStatus));

    // The room's home dies without a word.
    const killed = await kill(home);
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
    for (const page of pages) await page.context().close();
    await startNode(home);
  });

  it('keeps someone a host removed out, after the room moved to another node', async () => {
    const ada = await join(browser, await link(nodes[0].server, { room: 'removal', name: 'Ada Lovelace', host: true }), 'Ada Lovelace');
    const patLink = await link(nodes[0].server, { room: 'removal', name: 'Pat' });
    const pat = await join(browser, patLink, 'Pat');
    await waitForTiles(ada, ['Ada Lovelace', 'Pat']);
    const [home, other] = await homeAndOther();

    await openPeople(ada);
    await personRow(ada, 'Pat').getByTestId('remove').click();
    assert.equal(await errorScreen(pat, 'removed'), 'You were removed from the meeting');
    // The other node learns the removal from Redis (sealed: Redis holds no name).
    await eventually('the other node learned the removal', () => other.server.allLogs().includes('learned revocations made on other nodes'));

    await kill(home);
    await waitForTiles(ada, ['Ada Lovelace'], 60_000);
    assert.equal(await roomsOn(other.server), 1, 'the room lives on the other node now');
    // Pat's link, on the node that now holds the room: refused.
    await pat.goto('about:blank');
    await pat.goto(patLink);
    await pat.getByTestId('name-input').fill('Pat');
    await pat.getByRole('button', { name: 'Join', exact: true }).click();
    assert.equal(await errorScreen(pat, 'revoked'), 'Your access to this meeting was revoked');
  });
});
