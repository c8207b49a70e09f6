// Browsers meet through a NAT: the SFU binds 127.0.0.1 and advertises 127.0.0.2 (`--public-ip`),
// an address only a UDP relay listens on. Like a real NAT, the relay gives each browser its own
// mapping (a socket on 127.0.0.3) towards the SFU, so the SFU receives every datagram on an
// address no browser sent to, and tells the browsers apart by those mapped addresses.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';

import { join, launchBrowser, startServer, waitForMediaFrom, waitForTileStates, waitForTiles } from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper'];

/** Binds an IPv4 UDP socket on `address:port`. */
function bindUdp(address, port = 0) {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, address, () => resolve(socket));
  });
}

/**
 * A NAT on loopback: datagrams to `publicAddr:port` go to `server` from one socket on
 * `insideAddr` per peer; replies go back from the public side.
 */
async function startNat({ publicAddr, port, insideAddr, server }) {
  const outside = await bindUdp(publicAddr, port);
  const mappings = new Map();
  outside.on('message', async (msg, peer) => {
    const key = `${peer.address}:${peer.port}`;
    let inside = mappings.get(key);
    if (!inside) {
      inside = bindUdp(insideAddr);
      mappings.set(key, inside);
      (await inside).on('message', (reply) => outside.send(reply, peer.port, peer.address));
    }
    (await inside).send(msg, server.port, server.address);
  });
  return {
    /** How many peers the NAT has mapped. */
    mapped: () => mappings.size,
    async stop() {
      outside.close();
      for (const inside of mappings.values()) (await inside).close();
    },
  };
}

describe('a meeting whose SFU sits behind a NAT', { timeout: 120_000 }, () => {
  let server;
  let nat;
  let browser;
  const pages = new Map();

  before(async () => {
    server = await startServer({ udp: '127.0.0.1:0', args: ['--public-ip', '127.0.0.2'] });
    const [advertised] = server.media;
    const port = Number(advertised.split(':').at(-1));
    assert.equal(advertised, `127.0.0.2:${port}`, 'the SFU advertises the public address');
    nat = await startNat({
      publicAddr: '127.0.0.2',
      port,
      insideAddr: '127.0.0.3',
      server: { address: '127.0.0.1', port },
    });
    browser = await launchBrowser();
    for (const name of NAMES) {
      const link = await server.token({ room: 'natted', name });
      pages.set(name, await join(browser, link, name));
    }
  });

  after(async () => {
    await browser?.close();
    await nat?.stop();
    await server?.stop();
  });

  it('connects media through the public address and decrypts it on both sides', async () => {
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES);
      await waitForMediaFrom(
        page,
        NAMES.filter((n) => n !== name),
      );
      await waitForTileStates(page, Object.fromEntries(NAMES.map((n) => [n, 'encrypted'])));
    }
    assert.ok(nat.mapped() >= NAMES.length, `each browser has its own mapping (${nat.mapped()})`);
  });
});
