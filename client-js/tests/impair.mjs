// An impaired network for the browser tests: `veil-loadtest impair` (a UDP relay that applies
// loss, delay, jitter, a rate cap or a blackhole per participant and direction; see
// docs/impairment.md) in front of a `veil serve` that advertises the relay's address.
//
// The SFU binds 127.0.0.1 and advertises 127.0.0.4 (`--public-ip`), where only the relay
// listens, as in nat.test.mjs. The relay numbers each browser address it hears from (1, 2, …);
// join browsers one at a time and call `claim()` after each is connected to learn which
// relay clients are that browser.
//
// Environment: VEIL_LOADTEST_BIN  the relay binary (default ../target/debug/veil-loadtest)

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

import { CLIENT_DIR, eventually, startServer, tileInboundStats } from './harness.mjs';

export const VEIL_LOADTEST_BIN = process.env.VEIL_LOADTEST_BIN
  ? resolve(process.env.VEIL_LOADTEST_BIN)
  : resolve(CLIENT_DIR, '../target/debug/veil-loadtest');
const LOG = process.env.VEIL_TEST_LOG === '1';

/** The loopback address the SFU advertises and only the relay listens on. */
export const PUBLIC_ADDR = '127.0.0.4';

/**
 * Starts `veil-loadtest impair --listen LISTEN --upstream UPSTREAM`. Resolves once it is
 * listening, to a handle that sends commands and tracks client mappings.
 */
export async function startRelay({ listen, upstream, seed = 1 }) {
  if (!existsSync(VEIL_LOADTEST_BIN)) {
    throw new Error(
      `relay binary ${VEIL_LOADTEST_BIN} not found: run \`cargo build -p veil-loadtest\`, or set VEIL_LOADTEST_BIN`,
    );
  }
  const child = spawn(
    VEIL_LOADTEST_BIN,
    ['impair', '--listen', listen, '--upstream', upstream, '--seed', String(seed)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (LOG) process.stderr.write(`[impair] ${line}\n`);
  });
  const clients = new Map();
  const replies = [];
  let claimed = 0;
  const ready = new Promise((resolveReady, rejectReady) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (LOG) process.stderr.write(`[impair stdout] ${line}\n`);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.ready) resolveReady(msg.addr);
      else if (typeof msg.client === 'number' && msg.addr) clients.set(msg.client, msg.addr);
      else replies.shift()?.(msg);
    });
    child.once('exit', (code, signal) =>
      rejectReady(new Error(`veil-loadtest impair exited (${code ?? signal}):\n${stderr.join('\n')}`)),
    );
  });
  const addr = await ready;
  return {
    addr,
    /** Relay client number → the browser address it stands for. */
    clients,
    /**
     * The relay clients that appeared since the last claim: call once a browser joined and is
     * connected, before the next one joins. Waits for at least one.
     */
    async claim() {
      await eventually('a new client at the relay', () => clients.size > claimed, { timeout: 15_000 });
      const ids = [...clients.keys()].filter((id) => id > claimed);
      claimed = Math.max(...ids);
      return ids;
    },
    /** Sends one command (see docs/impairment.md); resolves to the relay's reply. */
    command(cmd) {
      return new Promise((resolveReply, rejectReply) => {
        replies.push((msg) => (msg.error ? rejectReply(new Error(msg.error)) : resolveReply(msg)));
        child.stdin.write(`${JSON.stringify(cmd)}\n`);
      });
    },
    /** Applies `change` (`{ down: { loss: 5 } }`, `{ blackhole: true }`, …) to each of `ids`. */
    async impair(ids, change) {
      for (const client of ids) await this.command({ client, ...change });
    },
    /** What each link did so far. */
    async report() {
      return (await this.command({ report: true })).report;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/**
 * `veil serve` behind the impairing relay: resolves to `{ server, relay }`. `args` go to
 * `veil serve` as they are.
 */
export async function startImpairedServer({ args = [], seed } = {}) {
  const server = await startServer({ udp: '127.0.0.1:0', args: ['--public-ip', PUBLIC_ADDR, ...args] });
  try {
    const port = Number(server.media[0].split(':').at(-1));
    const relay = await startRelay({ listen: `${PUBLIC_ADDR}:${port}`, upstream: `127.0.0.1:${port}`, seed });
    return { server, relay };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * Per remote participant (by the name on its tile): video and audio receive statistics of
 * the tracks playing in that tile.
 */
export function receiveStats(page) {
  return tileInboundStats(page, {
    video: {
      framesDecoded: 'framesDecoded',
      freezeCount: 'freezeCount',
      totalFreezesDuration: 'totalFreezesDuration',
      nackCount: 'nackCount',
      packetsLost: 'packetsLost',
      retransmitted: 'retransmittedPacketsReceived',
      pliCount: 'pliCount',
      keyFramesDecoded: 'keyFramesDecoded',
      framesDropped: 'framesDropped',
    },
    audio: { totalSamplesReceived: 'totalSamplesReceived', concealedSamples: 'concealedSamples' },
  });
}

/** What changed in `later` since `earlier` (both from `receiveStats`), per participant. */
export function statsDelta(earlier, later) {
  const out = {};
  for (const [name, now] of Object.entries(later)) {
    const was = earlier[name] ?? {};
    out[name] = Object.fromEntries(
      Object.entries(now).map(([k, v]) => [k, typeof v === 'number' ? v - (was[k] ?? 0) : v]),
    );
  }
  return out;
}

/**
 * Starts timing, in `page`, how long each remote participant's video stands still: every
 * 100 ms the page reads how many frames it decoded from each tile's video, and keeps the
 * longest time without a new one. `longestStalls(page)` reads (and restarts) the figures.
 */
export function watchStalls(page) {
  return page.evaluate(() => {
    const state = { longest: {}, last: {} };
    window.__veilStalls = state;
    const sample = async () => {
      const pc = window.veilDebug?.pc;
      if (!pc) return;
      const frames = new Map();
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames.set(s.trackIdentifier, s.framesDecoded ?? 0);
      });
      const now = performance.now();
      for (const tile of document.querySelectorAll('[data-testid=tile]:not(.self)')) {
        const name = tile.querySelector('[data-testid=tile-name]').textContent.trim();
        let decoded = 0;
        for (const el of tile.querySelectorAll('video')) {
          for (const track of el.srcObject?.getVideoTracks() ?? []) decoded += frames.get(track.id) ?? 0;
        }
        const last = state.last[name];
        if (!last || decoded !== last.decoded) state.last[name] = { decoded, at: now };
        else state.longest[name] = Math.max(state.longest[name] ?? 0, now - last.at);
      }
    };
    window.setInterval(() => void sample(), 100);
  });
}

/** The longest stall (ms) of each remote participant's video since the last call. */
export function longestStalls(page) {
  return page.evaluate(() => {
    const state = window.__veilStalls;
    const out = { ...state.longest };
    state.longest = {};
    return out;
  });
}
