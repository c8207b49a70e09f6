// Browsers on networks that block UDP still meet. Each browser runs in a network namespace whose
// nftables rules drop traffic to the server's address (netns.mjs):
// - all UDP dropped: the browsers meet over ICE-TCP (`veil serve --tcp`);
// - all UDP and TCP but the web port and the TURN port dropped: they meet through a real coturn,
//   relaying over TCP, with short-lived credentials signaling mints from coturn's REST secret.
// Media flows both ways, and the rules dropped what the browsers first tried.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { startCoturn } from './coturn.mjs';
import { freePort, join, launchBrowser, startServer, waitForMediaFrom, waitForTiles } from './harness.mjs';
import { blockedNamespace } from './netns.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper'];

/** Two browsers join `room` and receive each other's media; resolves to the join time (ms). */
async function meet(browser, server, room) {
  const started = Date.now();
  const pages = [];
  for (const name of NAMES) pages.push(await join(browser, await server.token({ room, name }), name));
  await waitForTiles(pages[0], NAMES);
  await waitForMediaFrom(pages[0], [NAMES[1]]);
  await waitForMediaFrom(pages[1], [NAMES[0]]);
  return { pages, ms: Date.now() - started };
}

/** The transport of the candidate pair each page's connection uses ('udp' or 'tcp'), and
 * whether its local candidate is a relay. */
async function selectedPaths(pages) {
  const out = [];
  for (const page of pages) {
    out.push(
      await page.evaluate(async () => {
        const pc = window.veilDebug?.pc;
        if (!pc) return null;
        const stats = await pc.getStats();
        for (const s of stats.values()) {
          if (s.type === 'transport' && s.selectedCandidatePairId) {
            const pair = stats.get(s.selectedCandidatePairId);
            const local = stats.get(pair.localCandidateId);
            const remote = stats.get(pair.remoteCandidateId);
            return { remote: remote.protocol, localType: local.candidateType, relayProtocol: local.relayProtocol ?? null };
          }
        }
        return null;
      }),
    );
  }
  return out;
}

describe('UDP blocked: ICE-TCP', { timeout: 120_000 }, () => {
  let net;
  let server;
  let browser;

  before(async () => {
    net = await blockedNamespace({ blockUdp: true });
    const at = (port) => `${net.hostAddr}:${port}`;
    server = await startServer({ http: at(0), udp: at(0), args: ['--tcp', at(0)], env: { VEIL_LOG: process.env.VEIL_LOG ?? 'info' } });
    browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${new URL(server.url).origin}`], {
      executablePath: net.chromium,
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await net?.close();
  });

  it('meets over TCP when no UDP gets through', async () => {
    const { pages } = await meet(browser, server, 'tcp-only');
    assert.ok((await net.dropped()) > 0, 'the browsers tried UDP first, and it was dropped');
    const paths = await selectedPaths(pages);
    // Chromium reports the local end of an active TCP connection as peer-reflexive; what
    // matters is that the pair reaches the server's TCP candidate directly, not through a relay.
    for (const path of paths) {
      assert.equal(path.remote, 'tcp', JSON.stringify(path));
      assert.notEqual(path.localType, 'relay', JSON.stringify(path));
    }
  });
});

describe('UDP and direct TCP blocked: through a TURN relay', { timeout: 120_000 }, () => {
  let net;
  let coturn;
  let server;
  let browser;

  before(async () => {
    // Only the web port and the TURN port get through; the SFU's UDP port does not.
    net = await blockedNamespace({ blockUdp: true, blockTcp: true });
    const turnPort = await freePort(net.hostAddr);
    const httpPort = await freePort(net.hostAddr);
    await net.allowTcp(turnPort);
    await net.allowTcp(httpPort);
    const secret = randomBytes(24).toString('hex');
    coturn = await startCoturn(net.hostAddr, turnPort, secret);
    server = await startServer({
      http: `${net.hostAddr}:${httpPort}`,
      udp: `${net.hostAddr}:0`,
      args: ['--turn-url', `turn:${net.hostAddr}:${turnPort}?transport=tcp`],
      env: { VEIL_TURN_SECRET: secret },
    });
    browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${new URL(server.url).origin}`], {
      executablePath: net.chromium,
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await coturn?.stop();
    await net?.close();
  });

  it('meets through coturn with credentials signaling minted', async () => {
    const { pages } = await meet(browser, server, 'relayed');
    assert.ok((await net.dropped()) > 0, 'the browsers tried the SFU directly first, and it was dropped');
    // A relay candidate exists only because coturn accepted the credentials signaling minted:
    // with a wrong secret it answers 401 and allocates nothing.
    const paths = await selectedPaths(pages);
    for (const path of paths) {
      assert.deepEqual(path, { remote: 'udp', localType: 'relay', relayProtocol: 'tcp' }, coturn.log());
    }
  });
});
