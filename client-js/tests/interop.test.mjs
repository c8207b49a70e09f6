// Three WebRTC stacks in one end-to-end encrypted meeting: Chromium (the browser client),
// webrtc-rs (`veil-webrtc-peer`) and str0m (`veil-loadtest join`), each with its own ICE,
// DTLS-SRTP and RTP code, all keyed by the room's MLS group. Chromium decodes video and audio
// from both native peers and shows them as encrypted under the code webrtc-rs computed too;
// each native peer decrypts audio and video from the other two without a single failure.
//
// Environment (besides harness.mjs's):
//   VEIL_WEBRTC_PEER_BIN  default ../target/debug/veil-webrtc-peer
//   VEIL_LOADTEST_BIN     default ../target/debug/veil-loadtest

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';

import {
  CLIENT_DIR,
  e2eeStatus,
  eventually,
  join,
  launchBrowser,
  remoteMedia,
  startServer,
  waitForMediaFrom,
  waitForTileStates,
} from './harness.mjs';

const binary = (env, name) =>
  process.env[env] ? resolve(process.env[env]) : resolve(CLIENT_DIR, `../target/debug/${name}`);
const WEBRTC_PEER_BIN = binary('VEIL_WEBRTC_PEER_BIN', 'veil-webrtc-peer');
const LOADTEST_BIN = binary('VEIL_LOADTEST_BIN', 'veil-loadtest');
const LOG = process.env.VEIL_TEST_LOG === '1';

const ROOM = 'interop';
const BROWSER = 'Ada Lovelace';
const WEBRTC_RS = 'Grace (webrtc-rs)';
/** `veil-loadtest join` names itself after its participant id. */
const isStr0m = (name) => name.startsWith('load p_');

/**
 * A native peer: started with `--stdin-control`, so it counts received media from a `count`
 * line on stdin and leaves and prints its JSON report at `end`.
 */
function startNative(label, bin, args) {
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`make rust-test\` (or cargo build) first`);
  const child = spawn(bin, [...args, '--stdin-control', '--duration', '150'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout = [];
  const stderr = [];
  createInterface({ input: child.stdout }).on('line', (line) => stdout.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (LOG) process.stderr.write(`[${label}] ${line}\n`);
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    exitCode: () => child.exitCode,
    mark: (line) => child.stdin.write(`${line}\n`),
    /** Ends the run and returns the report. */
    async finish() {
      child.stdin.end('end\n');
      const { code, signal } = await Promise.race([
        exited,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${label} did not exit`)), 20_000)),
      ]);
      const tail = stderr.slice(-30).join('\n');
      assert.equal(code, 0, `${label} exited with ${code ?? signal}:\n${tail}`);
      const line = stdout.at(-1);
      assert.ok(line, `${label} printed no report:\n${tail}`);
      return JSON.parse(line);
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/** The token in a join link's fragment. */
const tokenOf = (link) => new URLSearchParams(new URL(link).hash.slice(1)).get('token');

/**
 * Checks a native peer's report: every stream decrypted without failure, and from each of the
 * two others (told apart by the MLS leaf their frames authenticate) both audio and video.
 */
function assertDecryptedBothOthers(label, report) {
  assert.equal(report.decrypt_failures, 0, `${label}: ${JSON.stringify(report.streams)}`);
  const bySender = new Map();
  for (const s of report.streams) {
    assert.equal(s.decrypt_failures, 0, `${label}: ${JSON.stringify(s)}`);
    if (s.frames === 0) continue;
    const kinds = bySender.get(s.sender_leaf) ?? new Set();
    kinds.add(s.kind);
    bySender.set(s.sender_leaf, kinds);
  }
  assert.equal(bySender.size, 2, `${label} decrypts two senders: ${JSON.stringify(report.streams)}`);
  for (const [leaf, kinds] of bySender) {
    assert.deepEqual([...kinds].sort(), ['audio', 'video'], `${label}, sender leaf ${leaf}`);
  }
}

describe('a meeting of Chromium, webrtc-rs and str0m', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let page;
  const natives = {};

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = await join(browser, await server.token({ room: ROOM, identity: 'ada', name: BROWSER }), BROWSER);
    const url = server.url;
    const grace = tokenOf(await server.token({ room: ROOM, identity: 'grace', name: WEBRTC_RS }));
    natives.webrtc = startNative('webrtc-rs', WEBRTC_PEER_BIN, [
      ...['--url', url, '--token', grace, '--room', ROOM, '--name', WEBRTC_RS],
    ]);
    const load = tokenOf(await server.token({ room: ROOM, identity: 'load' }));
    natives.str0m = startNative('str0m', LOADTEST_BIN, ['join', '--url', url, '--token', load, '--room', ROOM]);
  });

  after(async () => {
    for (const native of Object.values(natives)) native.kill();
    await browser?.close();
    await server?.stop();
  });

  it('decrypts across all three stacks under one security code', async (t) => {
    // The meeting settles: three tiles, the MLS group has all three with their names, and the
    // epoch stays put (joins and name announcements are done). Frames sent before a member was
    // added are under keys it never held, so the native peers count from here.
    let str0mName;
    const settled = await eventually(
      'the meeting to settle with three members',
      async () => {
        const status = await e2eeStatus(page);
        const names = Object.keys(status.tiles);
        str0mName = names.find(isStr0m);
        const members = status.members;
        if (names.length !== 3 || !names.includes(WEBRTC_RS) || !str0mName || members.length !== 3) {
          throw new Error(JSON.stringify({ names, members }));
        }
        if (members.some((m) => !m)) throw new Error(`unnamed members ${JSON.stringify(members)}`);
        return status;
      },
      { timeout: 60_000, interval: 250 },
    );
    let stable = { epoch: settled.epoch, code: settled.code, since: Date.now() };
    await eventually(
      'the epoch to stay put for two seconds',
      async () => {
        const { epoch, code } = await e2eeStatus(page);
        if (epoch !== stable.epoch || code !== stable.code) stable = { epoch, code, since: Date.now() };
        return Date.now() - stable.since > 2_000;
      },
      { timeout: 30_000, interval: 250 },
    );
    for (const native of Object.values(natives)) {
      assert.equal(native.exitCode(), null, 'the native peers are still in the meeting');
      native.mark('count');
    }

    // Chromium decodes both native peers' video and audio and shows them as encrypted.
    const others = [WEBRTC_RS, str0mName];
    const start = await waitForMediaFrom(page, others, 30_000);
    await eventually(
      'Chromium decoding more frames from both native peers',
      async () => {
        const now = await remoteMedia(page);
        return others.every((n) => now[n].framesDecoded > start[n].framesDecoded + 40);
      },
      { timeout: 30_000, interval: 250 },
    );
    const status = await waitForTileStates(page, { [WEBRTC_RS]: 'encrypted', [str0mName]: 'encrypted' });
    for (const n of others) {
      assert.equal(status.tiles[n].label, 'Encrypted', n);
      assert.equal(status.tiles[n].videoShown, true, `${n}'s video is on its tile`);
    }
    assert.equal(status.headerState, 'secure');
    const media = await remoteMedia(page);
    const decrypting = status.frames.receivers.filter((r) => r.decrypted > 0);
    assert.deepEqual(
      new Set(decrypting.map((r) => r.participantId)),
      new Set(others.map((n) => media[n].id)),
      JSON.stringify(status.frames.receivers),
    );
    assert.equal(decrypting.length, 4, 'audio and video of both native peers decrypt in the browser');
    // Nothing changed the keys while the native peers counted.
    assert.deepEqual({ epoch: status.epoch, code: status.code }, { epoch: stable.epoch, code: stable.code });

    const webrtc = await natives.webrtc.finish();
    const str0m = await natives.str0m.finish();
    t.diagnostic(`webrtc-rs: ${JSON.stringify(webrtc)}`);
    t.diagnostic(`str0m: ${JSON.stringify(str0m)}`);

    // webrtc-rs is in the same epoch of the same group: the code it shows is Chromium's.
    assert.equal(webrtc.security_code, stable.code);
    assert.equal(webrtc.epoch, stable.epoch);
    assert.match(webrtc.security_code, /^\d{4} \d{4} \d{4}$/);
    assert.deepEqual(webrtc.members.map(([, name]) => name).sort(), [BROWSER, WEBRTC_RS, str0mName].sort());
    assert.equal(webrtc.participant_id, media[WEBRTC_RS].id);

    for (const [label, report] of [['webrtc-rs', webrtc], ['str0m', str0m]]) {
      assert.ok(report.sent_packets > 0, `${label} sent media while counting`);
      assertDecryptedBothOthers(label, report);
    }
    // webrtc-rs also names the senders by the msid the SFU gives their tracks.
    const browserId = await page.evaluate(() => window.veilDebug.participantId);
    const senders = new Set(webrtc.streams.filter((s) => s.frames > 0).map((s) => s.sender));
    assert.deepEqual(senders, new Set([browserId, media[str0mName].id]));
  });
});
