// End-to-end encryption as the participants see it: every frame goes through an SFrame
// transform keyed by the room's MLS group, everyone shows the same verification code, the code
// changes when someone leaves, and a participant who sends in the clear is refused (not
// rendered, shown as "not encrypted") while the others go on decoding each other.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  e2eeStatus,
  eventually,
  join,
  launchBrowser,
  remoteMedia,
  sentMessages,
  startServer,
  waitForMediaFrom,
  waitForTileStates,
  waitForTiles,
} from './harness.mjs';

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
/**
 * What Alan types: his name with a right-to-left override (which would render the rest of the
 * line backwards, letting a name pass for another) and a zero-width space. The others see it
 * cleaned.
 */
const TYPED = { 'Alan Turing': 'Alan\u202E Tur\u200Bing' };

/** Waits until all `pages` show one and the same verification code; returns it. */
async function sameCode(pages, what, timeout = 20_000) {
  return eventually(
    what,
    async () => {
      const statuses = await Promise.all(pages.map((p) => e2eeStatus(p)));
      const codes = new Set(statuses.flatMap((s) => [s.code, s.headerCode]));
      if (codes.size !== 1 || codes.has(null)) throw new Error(`codes ${JSON.stringify([...codes])}`);
      return { code: [...codes][0], epoch: statuses[0].epoch };
    },
    { timeout, interval: 200 },
  );
}

describe('an end-to-end encrypted meeting', { timeout: 180_000 }, () => {
  let server;
  let browser;
  const pages = new Map();

  before(async () => {
    // Debug logs too: no name may reach any of them.
    server = await startServer({ env: { VEIL_LOG: 'debug' } });
    browser = await launchBrowser();
    for (const name of NAMES) {
      const link = await server.token({ room: 'secret', identity: name.split(' ')[0].toLowerCase() });
      pages.set(name, await join(browser, link, TYPED[name] ?? name, name));
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('encrypts every frame, decodes both others, and shows everyone as encrypted', async () => {
    for (const [name, page] of pages) {
      await waitForTiles(page, NAMES);
      await waitForMediaFrom(
        page,
        NAMES.filter((n) => n !== name),
      );
      const status = await waitForTileStates(page, Object.fromEntries(NAMES.map((n) => [n, 'encrypted'])));
      for (const n of NAMES) assert.equal(status.tiles[n].label, 'Encrypted', `${name} sees ${n}`);
      assert.equal(status.headerState, 'secure');
      // Names come from inside the group: the three of them, and the join message carried no
      // display name.
      assert.deepEqual(status.members, [...NAMES].sort());
      const joinMsg = sentMessages(page).find((m) => m.type === 'join');
      assert.ok(joinMsg && !('name' in joinMsg), JSON.stringify(joinMsg));
      // The creator reported the group it made; the others that they joined from a Welcome.
      assert.ok(sentMessages(page).some((m) => m.type === 'mls_joined' || m.type === 'mls_group_created'));
      // Nothing the server could read carries a name: not the JSON, not the MLS payloads
      // (credentials hold only participant ids; names go in encrypted application messages).
      // The JSON fields are searched for every part of every name; the MLS payloads, decoded,
      // for whole names (a three-letter part turns up in kilobytes of random bytes or base64
      // by chance, a whole name does not).
      const BINARY = ['key_package', 'group_info', 'commit', 'welcome', 'message'];
      for (const msg of sentMessages(page)) {
        const plain = JSON.stringify(msg, (key, value) => (BINARY.includes(key) ? undefined : value));
        const payloads = BINARY.filter((f) => typeof msg[f] === 'string').map((f) =>
          Buffer.from(msg[f], 'base64').toString('latin1'),
        );
        for (const n of NAMES) {
          for (const part of n.split(' ')) {
            assert.ok(!plain.includes(part), `${msg.type} carries "${part}" in the clear`);
          }
          assert.ok(!payloads.some((t) => t.includes(n)), `${msg.type}'s MLS payload carries "${n}" in the clear`);
        }
      }
      // Both senders and all four receivers (audio and video of two others) have a transform.
      assert.deepEqual(status.transforms, {
        senders: 2,
        sendersWithTransform: 2,
        receivers: 4,
        receiversWithTransform: 4,
      });
      // The worker encrypted frames and decrypted frames of both others' audio and video, and
      // nothing left in the clear. (Its counters reach the page every 500 ms.)
      await eventually(`${name}'s worker decrypting both others`, async () => {
        const { frames } = await e2eeStatus(page);
        const sent = frames.senders.every((s) => s.encrypted > 0 && s.clear === 0);
        const decrypting = frames.receivers.filter((r) => r.decrypted > 0);
        const ids = new Set(decrypting.map((r) => r.participantId));
        if (!sent || decrypting.length !== 4 || ids.size !== 2) throw new Error(JSON.stringify(frames));
        return true;
      });
    }
  });

  it('shows a name typed with a bidi override cleaned, and no name reaches the server', async () => {
    for (const name of ['Ada Lovelace', 'Grace Hopper']) {
      const status = await e2eeStatus(pages.get(name));
      assert.ok(Object.keys(status.tiles).includes('Alan Turing'), JSON.stringify(Object.keys(status.tiles)));
      assert.ok(!Object.keys(status.tiles).some((t) => /[\u202A-\u202E\u2066-\u2069\u200B]/.test(t)));
    }
    // The server's logs (at debug) and what it stores hold no name.
    const logs = server.allLogs();
    assert.ok(logs.length > 1_000, 'the server logged the meeting');
    for (const n of NAMES) {
      for (const part of n.split(' ')) assert.ok(!logs.includes(part), `the server logged "${part}"`);
    }
    for (const file of await readdir(server.dataDir)) {
      const stored = await readFile(joinPath(server.dataDir, file), 'latin1');
      for (const n of NAMES) assert.ok(!stored.includes(n.split(' ')[0]), `${file} holds a name`);
    }
  });

  it('shows all three the same verification code', async () => {
    const { code, epoch } = await sameCode([...pages.values()], 'the same code on all three pages');
    assert.match(code, /^\d{4} \d{4} \d{4}$/);
    // Created at 0; one commit adds each newcomer, names need none.
    assert.equal(epoch, 2, `epoch ${epoch}`);
  });

  it('changes the code for the two others when one leaves, and they still decode each other', async () => {
    const stay = ['Ada Lovelace', 'Grace Hopper'];
    const before = await sameCode([...pages.values()], 'a shared code before the leave');
    await pages.get('Alan Turing').getByRole('button', { name: 'Leave meeting' }).click();
    const remaining = stay.map((n) => pages.get(n));
    const after = await eventually(
      'a new shared code after the leave',
      async () => {
        const r = await sameCode(remaining, 'the same code on both pages', 2_000);
        if (r.code === before.code || r.epoch <= before.epoch) throw new Error(`still ${JSON.stringify(r)}`);
        return r;
      },
      { timeout: 20_000 },
    );
    assert.notEqual(after.code, before.code);
    for (const page of remaining) {
      const status = await e2eeStatus(page);
      assert.deepEqual(status.members, [...stay].sort(), 'the leaver is out of the group');
      // The header flags the new code.
      assert.equal(await page.getByTestId('security-code-changed').count(), 1);
    }
    // Media goes on under the new epoch's keys.
    for (const name of stay) {
      const page = pages.get(name);
      const other = stay.find((n) => n !== name);
      const start = (await remoteMedia(page))[other];
      await eventually(
        `${name} decoding ${other} after the key change`,
        async () => {
          const now = (await remoteMedia(page))[other];
          const s = await e2eeStatus(page);
          const epochs = new Set(s.frames.receivers.filter((r) => r.decrypted > 0).map((r) => r.lastEpoch));
          return now.framesDecoded > start.framesDecoded + 10 && epochs.has(after.epoch);
        },
        { timeout: 20_000 },
      );
      await waitForTileStates(page, { [other]: 'encrypted' });
    }
  });
});

describe('a participant who sends in the clear', { timeout: 180_000 }, () => {
  let server;
  let browser;
  const pages = new Map();
  const SECURE = ['Ada Lovelace', 'Grace Hopper'];
  const CLEAR = 'Mallory Plain';

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    for (const name of SECURE) {
      const link = await server.token({ room: 'mixed', name });
      pages.set(name, await join(browser, link, name));
    }
    // Test-only switch: this client's senders skip encryption (it still joins the MLS group).
    const link = await server.token({ room: 'mixed', identity: 'mallory', name: CLEAR });
    pages.set(CLEAR, await join(browser, link, CLEAR, CLEAR, { insecureSkipEncryption: true }));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is refused by the others and shown as not encrypted, while they decode each other', async () => {
    const clearPage = pages.get(CLEAR);
    // It really sends in the clear.
    await eventually('the clear sender sending frames', async () => {
      const s = await e2eeStatus(clearPage);
      return s.frames?.senders.some((x) => x.kind === 'video' && x.clear > 30);
    });
    for (const name of SECURE) {
      const page = pages.get(name);
      const other = SECURE.find((n) => n !== name);
      await waitForTiles(page, [...SECURE, CLEAR]);
      await waitForMediaFrom(page, [other]);
      const status = await waitForTileStates(page, { [CLEAR]: 'not-encrypted', [other]: 'encrypted' });
      assert.equal(status.tiles[CLEAR].label, 'Not encrypted');
      assert.equal(status.tiles[CLEAR].videoShown, false, 'no video on the clear sender’s tile');
      assert.equal(status.headerState, 'at-risk', 'no lock while someone sends in the clear');
      // Its frames arrived and were all dropped: nothing decoded, nothing decrypted.
      const media = (await remoteMedia(page))[CLEAR];
      assert.equal(media.framesDecoded, 0, `${name} decoded the clear sender’s video`);
      const receivers = status.frames.receivers.filter((r) => r.participantId === media.id);
      assert.ok(receivers.length > 0);
      assert.ok(receivers.every((r) => r.decrypted === 0), JSON.stringify(receivers));
      assert.ok(receivers.some((r) => (r.failures['not-encrypted'] ?? 0) > 0), JSON.stringify(receivers));
      const received = await page.evaluate(async (pid) => {
        let packets = 0;
        const owned = new Set();
        const tile = document.querySelector(`[data-testid=tile][data-participant-id="${pid}"]`);
        for (const el of tile.querySelectorAll('video, audio')) {
          for (const t of el.srcObject?.getTracks() ?? []) owned.add(t.id);
        }
        (await window.veilDebug.pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && owned.has(s.trackIdentifier)) packets += s.packetsReceived ?? 0;
        });
        return packets;
      }, media.id);
      assert.ok(received > 0, 'the clear frames did arrive (and were refused)');
    }
    // The clear sender itself still decrypts the others, and shows itself as not encrypted.
    await waitForMediaFrom(clearPage, SECURE);
    const own = await e2eeStatus(clearPage);
    assert.equal(own.tiles[CLEAR].state, 'not-encrypted');
    // Later frames are still refused.
    const page = pages.get(SECURE[0]);
    const before = (await remoteMedia(page))[SECURE[1]].framesDecoded;
    await eventually('more frames from the secure peer', async () => (await remoteMedia(page))[SECURE[1]].framesDecoded > before + 10);
    assert.equal((await remoteMedia(page))[CLEAR].framesDecoded, 0);
  });
});
