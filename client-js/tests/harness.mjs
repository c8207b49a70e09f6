// Shared helpers for the browser tests: start and stop a `veil serve`, mint join links, launch
// headless Chromium, join a meeting the way a person would, and read what the page shows.
//
// Environment:
//   VEIL_BIN       the server binary (default ../target/debug/veil, relative to client-js/)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//   VEIL_TEST_LOG  set to 1 to copy browser console output and server logs to stderr

import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join as joinPath, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

export const CLIENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST_DIR = joinPath(CLIENT_DIR, 'dist');
export const VEIL_BIN = process.env.VEIL_BIN
  ? resolve(process.env.VEIL_BIN)
  : resolve(CLIENT_DIR, '../target/debug/veil');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const LOG = process.env.VEIL_TEST_LOG === '1';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

/** Capture settings for tests: small video, so several participants fit on two cores. */
const TEST_CAPTURE = {
  video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Bundles client TypeScript in memory with esbuild (`options` add to or override the
 * defaults: an entry point, stdin, aliases) and imports the result into node, for unit tests of
 * the client's pure parts.
 */
export async function bundleModule(options) {
  const out = await esbuild.build({
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
    ...options,
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

/** The client module at `entry` (relative to client-js/), bundled and imported into node. */
export function loadModule(entry) {
  return bundleModule({ entryPoints: [joinPath(CLIENT_DIR, entry)] });
}

/** A TCP port nothing listens on at `host` now. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Calls `check` until it returns a truthy value (which is returned) or the deadline passes; then
 * throws with `what` and the last value or error (so a check that throws a descriptive error
 * explains the failure). Polling with a deadline, never a bare sleep.
 */
export async function eventually(what, check, { timeout = 10_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${detail}`);
    }
    await sleep(interval);
  }
}

function checkPrerequisites() {
  if (!existsSync(VEIL_BIN)) {
    throw new Error(`server binary ${VEIL_BIN} not found: run \`cargo build\` at the top, or set VEIL_BIN`);
  }
  if (!existsSync(joinPath(DIST_DIR, 'index.html'))) {
    throw new Error(`${DIST_DIR}/index.html not found: run \`npm run build\` in client-js/`);
  }
}

/**
 * Starts `veil serve` on free loopback ports with a fresh data directory. Resolves once it
 * printed its address and join link. `http` and `udp` are the HTTP and media sockets' addresses;
 * `args` go on the command line as they are (`['--public-ip', '127.0.0.2']`, say); `env` adds
 * variables.
 */
export async function startServer({
  http = '127.0.0.1:0',
  udp = '127.0.0.1:0',
  args = [],
  env: extraEnv = {},
} = {}) {
  checkPrerequisites();
  const dataDir = await mkdtemp(joinPath(tmpdir(), 'veil-test-'));
  const env = { ...process.env, ...extraEnv, VEIL_DATA_DIR: dataDir };
  const child = spawn(
    VEIL_BIN,
    ['serve', '--http', http, '--udp', udp, '--assets', DIST_DIR, ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 2000) stderr.shift();
    if (LOG) process.stderr.write(`[veil] ${line}\n`);
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));

  const ready = new Promise((resolveReady, rejectReady) => {
    let url = null;
    let media = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (LOG) process.stderr.write(`[veil stdout] ${line}\n`);
      // veil ready: http://127.0.0.1:PORT (media udp 127.0.0.1:PORT[, [::1]:PORT])
      const r = /^veil ready: (https?:\/\/\S+) \(media udp (.+)\)$/.exec(line);
      if (r) [url, media] = [r[1], r[2].split(', ')];
      const j = /^join link: (\S+)/.exec(line);
      if (j && url) resolveReady({ url, media, joinLink: j[1] });
    });
    child.once('exit', (code, signal) =>
      rejectReady(
        new Error(`veil serve exited (${code ?? signal}) before it was ready:\n${stderr.join('\n')}`),
      ),
    );
    setTimeout(
      () => rejectReady(new Error(`veil serve not ready after 20 s:\n${stderr.join('\n')}`)),
      20_000,
    );
  });

  let info;
  try {
    info = await ready;
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  return {
    ...info,
    dataDir,
    /** The server's process id (for tests that look into its memory). */
    pid: child.pid,
    /** The last lines the server logged, for failure messages. */
    logs: () => stderr.slice(-200).join('\n'),
    /** Everything the server logged (up to the last 2,000 lines). */
    allLogs: () => stderr.join('\n'),
    /**
     * A join link from `veil token` (its last line of output). The identity defaults to the
     * name's first word, lowercased ("Ada Lovelace" → "ada"). `host`, `publish` (a list),
     * `noSubscribe`, `bypassLobby` and `tokenId` become the command's grant flags.
     */
    async token({
      room,
      name,
      identity = name?.split(' ')[0].toLowerCase(),
      ttl = '1h',
      host = false,
      publish,
      noSubscribe = false,
      bypassLobby = false,
      tokenId,
    }) {
      const args = ['token', '--room', room, '--identity', identity, '--ttl', ttl, '--url', info.url];
      if (name) args.push('--name', name);
      if (host) args.push('--host');
      if (publish) args.push('--publish', publish.join(','));
      if (noSubscribe) args.push('--no-subscribe');
      if (bypassLobby) args.push('--bypass-lobby');
      if (tokenId) args.push('--token-id', tokenId);
      const { stdout } = await promisify(execFile)(VEIL_BIN, args, { env });
      const lines = stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const link = lines.at(-1);
      if (!link?.startsWith('http')) throw new Error(`veil token printed no link: ${stdout}`);
      return link;
    },
    /** `veil revoke` against this server, as the operator runs it; resolves to its output. */
    async revoke({ room, identity, tokenId }) {
      const args = ['revoke', '--room', room, '--url', info.url];
      if (identity) args.push('--identity', identity);
      if (tokenId) args.push('--token-id', tokenId);
      const { stdout } = await promisify(execFile)(VEIL_BIN, args, { env });
      return stdout.trim();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const done = await Promise.race([exited, sleep(5_000).then(() => null)]);
        if (!done) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Headless Chromium with fake camera and microphone; a fresh temporary profile each time.
 * `extraArgs` adds switches (e.g. `--use-file-for-fake-audio-capture=…` for a steady voice);
 * `executablePath` runs another Chromium, or the same one through a wrapper (netns.mjs).
 */
export function launchBrowser(extraArgs = [], { executablePath = CHROMIUM } = {}) {
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/**
 * A browser that can be killed abruptly (SIGKILL, no `leave`, no clean WebSocket close from
 * the page), as when a laptop lid closes or the browser crashes.
 */
export async function launchKillableBrowser() {
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const browser = await chromium.connect(server.wsEndpoint());
  return {
    browser,
    async kill() {
      const proc = server.process();
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
    async close() {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

const serverErrorsByPage = new WeakMap();
const sentByPage = new WeakMap();

/** The JSON messages `page` has sent to the server so far (read off the WebSocket). */
export function sentMessages(page) {
  return sentByPage.get(page) ?? [];
}

/** The `error` messages the server has sent to `page` so far (read off the WebSocket). */
export function serverErrors(page) {
  return serverErrorsByPage.get(page) ?? [];
}

/**
 * A new page in its own browser context (its own fake devices and storage). `config` is merged
 * into `window.veilConfig` (e.g. the test-only `{ insecureSkipEncryption: true }`).
 */
export async function openPage(browser, label, config = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  await context.addInitScript((c) => {
    window.veilConfig = c;
  }, { ...TEST_CAPTURE, ...config });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  const sent = [];
  serverErrorsByPage.set(page, errors);
  sentByPage.set(page, sent);
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      try {
        const msg = JSON.parse(String(payload));
        if (msg?.type === 'error') errors.push(msg);
      } catch {
        // not JSON: the tests check only the protocol's error messages
      }
    });
    ws.on('framesent', ({ payload }) => {
      try {
        sent.push(JSON.parse(String(payload)));
      } catch {
        // not JSON
      }
    });
  });
  page.on('console', (msg) => {
    if (LOG || msg.type() === 'error')
      process.stderr.write(`[${label} console.${msg.type()}] ${msg.text()}\n`);
  });
  page.on('pageerror', (err) => process.stderr.write(`[${label} pageerror] ${err.message}\n`));
  return page;
}

/** Opens `link`, types `name` on the pre-join screen and clicks "Join". */
export async function join(browser, link, name, label = name, config = {}) {
  const page = await openPage(browser, label, config);
  await page.goto(link);
  await page.getByTestId('name-input').fill(name);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('[data-screen=call]').waitFor();
  return page;
}

/** The names on the tiles the page shows, sorted. */
export async function tileNames(page) {
  const names = await page.locator('[data-testid=tile] [data-testid=tile-name]').allTextContents();
  return names.map((n) => n.trim()).sort();
}

/** Waits until the page shows exactly the tiles named `expected`. */
export async function waitForTiles(page, expected, timeout = 15_000) {
  const want = [...expected].sort();
  await eventually(
    `tiles ${JSON.stringify(want)}`,
    async () => {
      const got = await tileNames(page);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`tiles ${JSON.stringify(got)}`);
      return got;
    },
    { timeout },
  );
}

/**
 * Per remote participant (by the name on its tile): the tile's participant id, whether its
 * microphone and camera show as on, and the sums of the inbound-rtp statistics named in
 * `fields` over the tracks playing in that tile. `fields` maps output names to statistic names
 * for each kind, e.g. `{ video: { frames: 'framesDecoded' }, audio: { … } }`.
 */
export function tileInboundStats(page, fields) {
  return page.evaluate(async (fields) => {
    const pc = window.veilDebug?.pc;
    if (!pc) return {};
    const byTrack = new Map();
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') byTrack.set(s.trackIdentifier, s);
    });
    const out = {};
    for (const tile of document.querySelectorAll('[data-testid=tile]:not(.self)')) {
      const entry = {
        id: tile.getAttribute('data-participant-id'),
        microphone: tile.getAttribute('data-microphone') === 'on',
        camera: tile.getAttribute('data-camera') === 'on',
      };
      for (const kind of ['video', 'audio']) for (const name of Object.keys(fields[kind] ?? {})) entry[name] = 0;
      for (const el of tile.querySelectorAll('video, audio')) {
        for (const track of el.srcObject?.getTracks() ?? []) {
          const s = byTrack.get(track.id);
          if (!s) continue;
          for (const [name, stat] of Object.entries(fields[s.kind] ?? {})) entry[name] += s[stat] ?? 0;
        }
      }
      out[tile.querySelector('[data-testid=tile-name]').textContent.trim()] = entry;
    }
    return out;
  }, fields);
}

/**
 * What the page receives from each remote participant, read from getStats and mapped through
 * the tiles: `{ [name]: { id, framesDecoded, totalSamplesReceived, camera, microphone } }`.
 * A track counts for a participant when it is the one playing in that participant's tile.
 */
export function remoteMedia(page) {
  return tileInboundStats(page, {
    video: { framesDecoded: 'framesDecoded' },
    audio: { totalSamplesReceived: 'totalSamplesReceived' },
  });
}

/** Waits until the page decodes video and audio from every one of `names`. */
export async function waitForMediaFrom(page, names, timeout = 30_000) {
  return eventually(
    `video and audio decoded from ${names.join(', ')}`,
    async () => {
      const media = await remoteMedia(page);
      const ok = names.every((n) => media[n]?.framesDecoded > 0 && media[n]?.totalSamplesReceived > 0);
      if (!ok) throw new Error(JSON.stringify(media));
      return media;
    },
    { timeout, interval: 250 },
  );
}

/** Totals over every inbound-rtp stream of the page's peer connection. */
export function inboundTotals(page) {
  return page.evaluate(async () => {
    const pc = window.veilDebug?.pc;
    const totals = { streams: 0, packetsReceived: 0, framesDecoded: 0, totalSamplesReceived: 0 };
    if (!pc) return totals;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      totals.streams += 1;
      totals.packetsReceived += s.packetsReceived ?? 0;
      totals.framesDecoded += s.framesDecoded ?? 0;
      totals.totalSamplesReceived += s.totalSamplesReceived ?? 0;
    });
    return totals;
  });
}

/** Frames the page's camera sender has encoded so far. */
export function framesEncoded(page) {
  return page.evaluate(async () => {
    let frames = 0;
    (await window.veilDebug?.pc.getStats())?.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') frames += s.framesEncoded ?? 0;
    });
    return frames;
  });
}

/**
 * What a user would check about end-to-end encryption on `page`: the code in the header, the
 * security state on each tile (by the name on it), and (from `window.veilDebug`, test-only) the
 * MLS epoch and verification code and how many senders and receivers carry a transform.
 */
export function e2eeStatus(page) {
  return page.evaluate(() => {
    const tiles = {};
    for (const tile of document.querySelectorAll('[data-testid=tile]')) {
      const name = tile.querySelector('[data-testid=tile-name]').textContent.trim();
      tiles[name] = {
        state: tile.getAttribute('data-security'),
        label: tile.querySelector('[data-testid=tile-security]')?.textContent.trim() ?? null,
        videoShown: !tile.classList.contains('video-off'),
      };
    }
    const d = window.veilDebug;
    return {
      headerCode: document.querySelector('[data-testid=security-code]')?.textContent.trim() ?? null,
      headerState: document.querySelector('[data-testid=security-indicator]')?.getAttribute('data-call') ?? null,
      tiles,
      epoch: d?.epoch ?? null,
      code: d?.verificationCode ?? null,
      members: (d?.members ?? []).map((m) => m.name).sort(),
      transforms: d?.transforms() ?? null,
      frames: d?.frames ?? null,
    };
  });
}

/** Waits until every tile on `page` shows the security state `state` ("encrypted", …). */
export function waitForTileStates(page, expected, timeout = 20_000) {
  return eventually(
    `tile security states ${JSON.stringify(expected)}`,
    async () => {
      const status = await e2eeStatus(page);
      for (const [name, state] of Object.entries(expected)) {
        if (status.tiles[name]?.state !== state) throw new Error(JSON.stringify(status.tiles));
      }
      return status;
    },
    { timeout, interval: 200 },
  );
}

/** What `page` decodes of `name`'s camera: frame height and frames decoded, from inbound-rtp. */
export function decodedVideo(page, name) {
  return page.evaluate(async (name) => {
    const tile = [...document.querySelectorAll('[data-testid=tile]')].find(
      (t) => t.querySelector('[data-testid=tile-name]')?.textContent.trim() === name,
    );
    const track = tile?.querySelector('video')?.srcObject?.getVideoTracks()[0];
    if (!track) return null;
    let found = null;
    (await window.veilDebug.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.trackIdentifier === track.id) {
        found = { height: s.frameHeight ?? 0, frames: s.framesDecoded ?? 0 };
      }
    });
    return found;
  }, name);
}

/** Waits until `page` decodes `name`'s camera at `height` and frames keep coming. */
export async function decodesAt(page, name, height, what) {
  const first = await eventually(
    what,
    async () => {
      const r = await decodedVideo(page, name);
      if (r?.height !== height) throw new Error(`decoding ${JSON.stringify(r)}`);
      return r;
    },
    { timeout: 30_000, interval: 250 },
  );
  await eventually(
    `${what}, with frames still coming`,
    async () => {
      const r = await decodedVideo(page, name);
      if (!(r?.height === height && r.frames > first.frames + 10)) throw new Error(JSON.stringify(r));
      return r;
    },
    { timeout: 15_000, interval: 250 },
  );
}

/** A WAV file of a 440 Hz tone at half scale: 16-bit mono PCM, 48 kHz, 2 s (Chromium loops it). */
function toneWav() {
  const rate = 48_000;
  const samples = rate * 2;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 16_000), 44 + i * 2);
  }
  return buf;
}

/**
 * A browser whose fake microphones play a steady tone instead of Chromium's beeps, so that
 * every participant speaks all the time. Resolves to `{ browser, close }`; `close` also removes
 * the tone's file.
 */
export async function launchToneBrowser() {
  const dir = await mkdtemp(joinPath(tmpdir(), 'veil-tone-'));
  const wav = joinPath(dir, 'tone.wav');
  await writeFile(wav, toneWav());
  const browser = await launchBrowser([`--use-file-for-fake-audio-capture=${wav}`]);
  return {
    browser,
    async close() {
      await browser.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for the fatal error screen with `code`. */
export async function errorScreen(page, code) {
  await page.locator(`[data-screen=error][data-error-code=${code}]`).waitFor({ timeout: 15_000 });
  return (await page.getByTestId('notice-title').textContent()).trim();
}

/** Opens the people panel of a host's page (if closed). */
export async function openPeople(page) {
  if (!(await page.getByTestId('people-panel').isVisible())) await page.getByTestId('people-button').click();
  await page.getByTestId('people-panel').waitFor();
}

/** The row of the person named `name` in the people panel. */
export function personRow(page, name) {
  return page.locator('[data-testid=person]', { hasText: name });
}
