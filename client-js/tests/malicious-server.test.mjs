// Real Chromium clients behind a man in the middle (tests/mitm.mjs) that plays a malicious
// server: it swaps whose tracks are whose in an SDP offer, hands the members a key package of
// someone in another room to add, and forces through a commit that adds that outsider, made by
// a member who colludes with it. The browsers must show each for what it is.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  e2eeStatus,
  eventually,
  join,
  launchBrowser,
  remoteMedia,
  startServer,
  waitForMediaFrom,
  waitForTileStates,
  waitForTiles,
} from './harness.mjs';
import { b64, loadWasm, nativeClient, startProxy, tokenOf, unb64 } from './mitm.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];

let server;
let proxy;
let browser;
let wasm;

before(async () => {
  server = await startServer();
  proxy = await startProxy(server.url);
  browser = await launchBrowser();
  wasm = await loadWasm();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

/** Joins `room` through the proxy as each of `names`, in order; returns the pages by name. */
async function meeting(room, names, beforeEach = () => {}) {
  const pages = new Map();
  for (const name of names) {
    await beforeEach(name, pages);
    const link = proxy.link(await server.token({ room, name }), server.url);
    pages.set(name, await join(browser, link, name));
  }
  return pages;
}

const participantId = (page) => page.evaluate(() => window.veilDebug.participantId);

/** Swaps every occurrence of `a` and `b` in `text`. */
function swap(text, a, b) {
  return text.split(a).map((part) => part.split(b).join(a)).join(b);
}

describe('a server that swaps two participants’ tracks', { timeout: 180_000 }, () => {
  let pages;
  let ids;

  before(async () => {
    ids = {};
    // Grace joins last: every offer to her labels Ada's tracks as Alan's and back.
    const order = ['Ada Lovelace', 'Alan Turing', 'Grace Hopper'];
    pages = await meeting('swapped', order, async (name, so_far) => {
      if (name !== 'Grace Hopper') return;
      ids.ada = await participantId(so_far.get('Ada Lovelace'));
      ids.alan = await participantId(so_far.get('Alan Turing'));
      proxy.onToClient((msg, conn) => {
        if (msg.type !== 'offer' || conn.room !== 'swapped') return msg;
        if (conn.participantId === ids.ada || conn.participantId === ids.alan) return msg;
        return { ...msg, sdp: swap(msg.sdp, ids.ada, ids.alan) };
      });
    });
  });

  after(async () => {
    for (const page of pages?.values() ?? []) await page.context().close();
  });

  it('shows decryption failing on both swapped tiles, never the other person’s media', async () => {
    const grace = pages.get('Grace Hopper');
    await waitForTiles(grace, NAMES);
    const status = await waitForTileStates(grace, {
      'Ada Lovelace': 'decryption-failing',
      'Alan Turing': 'decryption-failing',
    });
    const media = await remoteMedia(grace);
    assert.equal(media['Ada Lovelace'].framesDecoded, 0, 'nothing of Alan played on Ada’s tile');
    assert.equal(media['Alan Turing'].framesDecoded, 0, 'nothing of Ada played on Alan’s tile');
    const failures = status.frames.receivers.flatMap((r) => Object.keys(r.failures));
    assert.ok(failures.includes('wrong-sender'), JSON.stringify(status.frames.receivers));
    assert.equal(status.headerState, 'at-risk');
    // Ada, whose offers were not touched, sees Alan's real media as encrypted.
    await waitForMediaFrom(pages.get('Ada Lovelace'), ['Alan Turing']);
    await waitForTileStates(pages.get('Ada Lovelace'), { 'Alan Turing': 'encrypted' });
  });
});

describe('a server that tries to add someone from another room', { timeout: 240_000 }, () => {
  let pages;
  let eve;
  let eveKeyPackage;
  let mallory;

  before(async () => {
    pages = await meeting('mitm', NAMES);
    for (const [name, page] of pages) {
      await waitForMediaFrom(
        page,
        NAMES.filter((n) => n !== name),
      );
    }
    // Eve is in another room; her key package is real and names her.
    eve = await nativeClient(server.url, 'elsewhere', tokenOf(await server.token({ room: 'elsewhere', name: 'Eve' })));
    eveKeyPackage = new wasm.WasmRawMember(eve.joined.participant_id).keyPackage();
  });

  after(() => {
    eve?.close();
    mallory?.close();
  });

  it('gets no member to commit the add', async () => {
    const before = await sameCodes();
    const sentBefore = proxy.conns.map((c) => c.sent.length);
    const ada = await participantId(pages.get('Ada Lovelace'));
    for (const conn of proxy.conns.filter((c) => c.room === 'mitm')) {
      conn.sendToClient({
        type: 'mls_add_request',
        participant_id: eve.joined.participant_id,
        key_package: b64(eveKeyPackage),
        committer: ada,
      });
    }
    // Longer than the committer and two fallbacks would wait.
    await new Promise((r) => setTimeout(r, 8_000));
    const commits = proxy.conns.flatMap((c, i) => c.sent.slice(sentBefore[i] ?? 0)).filter((m) => m.type === 'mls_commit');
    assert.deepEqual(commits, [], 'nobody committed the outsider');
    assert.deepEqual(await sameCodes(), before, 'the group did not change');
    for (const page of pages.values()) assert.notEqual((await e2eeStatus(page)).headerState, 'at-risk');
  });

  it('and when a colluding member’s commit adding her is forced through, every browser is at risk and names her', async () => {
    // Mallory joins the room the honest way and is added to the group.
    mallory = await nativeClient(server.url, 'mitm', tokenOf(await server.token({ room: 'mitm', identity: 'mallory' })));
    const member = new wasm.WasmRawMember(mallory.joined.participant_id);
    mallory.send({ type: 'mls_key_package', key_package: b64(member.keyPackage()) });
    member.joinFromWelcome(unb64((await mallory.next('mls_welcome')).welcome));
    await sameCodes();
    // Her commit adding Eve; the real server refuses it ...
    const bundle = member.addMembers([eveKeyPackage]);
    mallory.send({ type: 'mls_commit', epoch: bundle.epochBefore, commit: b64(bundle.commit) });
    const refused = await mallory.next('error');
    assert.equal(refused.code, 'mls_invalid_commit', JSON.stringify(refused));
    // ... the man in the middle delivers it anyway.
    for (const conn of proxy.conns.filter((c) => c.room === 'mitm' && c.participantId)) {
      conn.sendToClient({ type: 'mls_commit', commit: b64(bundle.commit), epoch: bundle.epochBefore + 1 });
    }
    for (const [name, page] of pages) {
      const status = await eventually(
        `${name} at risk, naming the outsider`,
        async () => {
          const s = await e2eeStatus(page);
          const risk = await page.getByTestId('security-risk').textContent().catch(() => '');
          if (s.headerState !== 'at-risk' || !risk.includes(eve.joined.participant_id)) {
            throw new Error(JSON.stringify({ header: s.headerState, risk }));
          }
          return s;
        },
        { timeout: 10_000 },
      );
      assert.equal(status.headerCode, null, 'no code (and no lock) while at risk');
      await page.getByTestId('security-indicator').click();
      const panel = await page.getByTestId('panel-risk').textContent();
      assert.ok(panel.includes(eve.joined.participant_id), panel);
      await page.getByTestId('security-panel-close').click();
    }
  });

  /** Waits until the three pages share one code; returns it. */
  async function sameCodes() {
    return eventually(
      'one code on every page',
      async () => {
        const codes = new Set();
        for (const page of pages.values()) codes.add((await e2eeStatus(page)).code);
        if (codes.size !== 1 || codes.has(null)) throw new Error(JSON.stringify([...codes]));
        return [...codes][0];
      },
      { timeout: 20_000, interval: 200 },
    );
  }
});
