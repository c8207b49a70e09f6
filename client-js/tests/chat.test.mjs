// In-call chat in real Chromium against a real `veil serve` (logging at debug): three people
// chat and each message shows on the two other pages under the name its sender signed inside the
// encrypted group, with the verified mark the user gave in the security panel; a message set to
// disappear after 10 s is gone from every page after its time, and only that one; someone who
// joins later sees nothing from before; and no chat text is in what the pages sent, the server's
// log, its data directory or its memory.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { e2eeStatus, eventually, join, launchBrowser, sentMessages, startServer, waitForTiles } from './harness.mjs';

/** Every text this file sends ends with this run's tag, so that a search for it finds them all. */
const TAG = randomBytes(6).toString('hex');
const said = (text) => `${text} ${TAG}`;

/** The chat messages `page` shows, oldest first: sender as shown, its verified mark, text. */
function chatShown(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid=chat-message]')].map((m) => {
      const sender = m.querySelector('[data-testid=chat-sender]');
      return {
        sender: sender.textContent,
        verified: sender.getAttribute('data-verified'),
        text: m.querySelector('[data-testid=chat-text]').textContent,
      };
    }),
  );
}

/** Waits until `page` shows a message `text` from `sender`; returns what it shows. */
function waitForMessage(page, sender, text, timeout = 10_000) {
  return eventually(
    `"${text}" from ${sender}`,
    async () => {
      const shown = await chatShown(page);
      if (!shown.some((m) => m.sender === sender && m.text === text)) throw new Error(JSON.stringify(shown));
      return shown;
    },
    { timeout },
  );
}

/** Opens the chat panel (if closed) once chat can go out: the page is in the encryption group. */
async function openChat(page) {
  await eventually('chat open for sending', () => page.getByTestId('chat-input').isEnabled(), { timeout: 20_000 });
  if (!(await page.getByTestId('chat-panel').isVisible())) await page.getByTestId('chat-button').click();
  await page.getByTestId('chat-panel').waitFor();
}

/** Types `text` in the chat box of `page` and sends it, disappearing after `ttl` seconds ('0': the room's). */
async function send(page, text, ttl = '0') {
  await openChat(page);
  await page.getByTestId('chat-ttl').selectOption(ttl);
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
  await waitForMessage(page, 'You', text);
}

/** Waits until every page in `pages` shows the same code with `count` members in the group. */
function sameGroup(pages, count) {
  return eventually(
    `one group of ${count} on every page`,
    async () => {
      const statuses = await Promise.all(pages.map((p) => e2eeStatus(p)));
      const codes = new Set(statuses.map((s) => s.code));
      const ok = codes.size === 1 && !codes.has(null) && statuses.every((s) => s.members.length === count);
      if (!ok) throw new Error(JSON.stringify(statuses.map((s) => [s.code, s.members])));
      return statuses[0];
    },
    { timeout: 30_000, interval: 200 },
  );
}

/**
 * Which of `needles` occur in the readable, writable memory of process `pid` (its heap, stacks
 * and data: wherever a message it handled would be), read through /proc/PID/mem.
 */
function inMemory(pid, needles) {
  const wanted = needles.map((n) => Buffer.from(n, 'utf8'));
  const overlap = Math.max(...wanted.map((n) => n.length)) - 1;
  const found = new Set();
  const regions = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .map((line) => /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line))
    .filter(Boolean)
    .map(([, start, end]) => [parseInt(start, 16), parseInt(end, 16)]);
  assert.ok(regions.length > 0, 'the process has writable memory to read');
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const chunk = Buffer.alloc(4 << 20);
  let read = 0;
  try {
    for (const [start, end] of regions) {
      for (let at = start; at < end; at += chunk.length - overlap) {
        let n;
        try {
          n = readSync(fd, chunk, 0, Math.min(chunk.length, end - at), at);
        } catch {
          break; // a region that cannot be read (a guard page, say)
        }
        read += n;
        const bytes = chunk.subarray(0, n);
        wanted.forEach((w, i) => bytes.includes(w) && found.add(needles[i]));
        if (n < chunk.length) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  assert.ok(read > 1 << 20, `read ${read} bytes of the server's memory`);
  return found;
}

/** Every file under `dir`, with its contents. */
async function filesUnder(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = joinPath(entry.parentPath ?? entry.path, entry.name);
    out.push({ path, bytes: await readFile(path) });
  }
  return out;
}

describe('in-call chat', { timeout: 300_000 }, () => {
  // A name no other test uses: its presence in the server's memory proves the search works.
  const room = `chat-${TAG}`;
  const NAMES = ['Ada Lovelace', 'Bob Kahn', 'Cyd Charisse'];
  const pages = new Map();
  const sent = [];
  let server;
  let browser;

  /** `name` sends `text` (tagged); returns the tagged text. */
  async function say(name, text, ttl) {
    const tagged = said(text);
    await send(pages.get(name), tagged, ttl);
    sent.push(tagged);
    return tagged;
  }

  before(async () => {
    server = await startServer({ env: { VEIL_LOG: 'debug' } });
    browser = await launchBrowser();
    for (const name of NAMES) pages.set(name, await join(browser, await server.token({ room, name }), name));
    for (const page of pages.values()) await waitForTiles(page, NAMES);
    await sameGroup([...pages.values()], 3);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows each message on the two other pages under the name its sender signed, marked as the user verified', async () => {
    const [ada, bob, cyd] = NAMES.map((n) => pages.get(n));
    // Cyd marks Ada verified in the security panel, as after comparing fingerprints.
    await cyd.getByTestId('security-indicator').click();
    await cyd.locator('[data-testid=member]', { hasText: 'Ada Lovelace' }).getByTestId('verify-toggle').click();
    await cyd.getByTestId('security-panel-close').click();

    const hello = await say('Ada Lovelace', 'Hello from Ada 🎥');
    const lines = await say('Bob Kahn', 'Bob here\nwith a second line');
    await waitForMessage(bob, 'Ada Lovelace', hello);
    await waitForMessage(ada, 'Bob Kahn', lines);
    await waitForMessage(cyd, 'Ada Lovelace', hello);
    await waitForMessage(cyd, 'Bob Kahn', lines);
    // Cyd's panel stayed closed: the button counts both.
    assert.equal((await cyd.getByTestId('chat-unread').textContent()).trim(), '2');
    await openChat(cyd);
    assert.ok(await cyd.getByTestId('chat-unread').isHidden());
    assert.deepEqual(await chatShown(cyd), [
      { sender: 'Ada Lovelace', verified: 'true', text: hello },
      { sender: 'Bob Kahn', verified: 'false', text: lines },
    ]);
    assert.deepEqual(
      (await chatShown(ada)).map((m) => [m.sender, m.text]),
      [
        ['You', hello],
        ['Bob Kahn', lines],
      ],
    );
  });

  it('takes a message set to disappear after 10 s off every page after its time, and only that one', async () => {
    const sentAt = Date.now();
    const brief = await say('Bob Kahn', 'This disappears in ten seconds', '10');
    for (const name of ['Ada Lovelace', 'Cyd Charisse']) await waitForMessage(pages.get(name), 'Bob Kahn', brief);
    await Promise.all(
      [...pages].map(async ([name, page]) => {
        await eventually(
          `the 10 s message gone from ${name}'s page`,
          async () => !(await chatShown(page)).some((m) => m.text === brief),
          { timeout: 20_000, interval: 200 },
        );
        const after = Date.now() - sentAt;
        assert.ok(after >= 10_000 && after < 15_000, `gone from ${name}'s page after ${after} ms`);
        assert.equal((await chatShown(page)).length, 2, `${name} still shows the two earlier messages`);
      }),
    );
  });

  it('shows someone who joins later nothing from before', async () => {
    const before = await say('Ada Lovelace', 'Said before Dan came');
    await waitForMessage(pages.get('Cyd Charisse'), 'Ada Lovelace', before);
    const dan = await join(browser, await server.token({ room, name: 'Dan Dare' }), 'Dan Dare');
    pages.set('Dan Dare', dan);
    await sameGroup([...pages.values()], 4);
    const welcome = await say('Ada Lovelace', 'Welcome, Dan');
    await waitForMessage(dan, 'Ada Lovelace', welcome);
    assert.deepEqual(
      (await chatShown(dan)).map((m) => m.text),
      [welcome],
      'Dan reads what was said after he joined, and nothing before',
    );
  });

  it('leaves no chat text in what the pages sent, the server\'s log, its data directory or its memory', async () => {
    const marker = await say('Cyd Charisse', `veil-chat-marker-${randomBytes(8).toString('hex')}`);
    await waitForMessage(pages.get('Ada Lovelace'), 'Cyd Charisse', marker);
    assert.ok((await chatShown(pages.get('Cyd Charisse'))).some((m) => m.text === marker), 'the sender shows it');

    for (const [name, page] of pages) {
      const wire = JSON.stringify(sentMessages(page));
      assert.ok(wire.includes('"mls_application"'), `${name} sent application messages`);
      for (const text of sent) assert.ok(!wire.includes(text), `${name}'s page sent "${text}" readably`);
    }
    const logs = server.allLogs();
    assert.ok(logs.includes('DEBUG') && logs.split('\n').length < 2_000, 'the whole debug log is here');
    for (const text of sent) assert.ok(!logs.includes(text), `the server logged "${text}"`);
    // The audit log records this meeting's joins, so the search below reads a file with content.
    const files = await eventually('the audit log to record the joins', async () => {
      const all = await filesUnder(server.dataDir);
      return all.some(({ path, bytes }) => path.endsWith('audit.log') && bytes.includes('"joined"')) && all;
    });
    for (const { path, bytes } of files) {
      for (const text of sent) assert.ok(!bytes.includes(Buffer.from(text)), `${path} holds "${text}"`);
    }
    const found = inMemory(server.pid, [room, ...sent]);
    assert.ok(found.has(room), 'the search finds what the server does hold: the room name');
    assert.deepEqual([...found].filter((s) => s !== room), [], 'no chat text in the server\'s memory');
  });
});
