// A meeting of bots for tests that need traffic through a running `veil serve` but no browser:
// `veil-loadtest run meeting --server URL --secret HEX` (WebRTC participants that publish
// simulcast video and audio and subscribe to each other; see docs/loadtest.md).
//
// Environment: VEIL_LOADTEST_BIN (default ../target/debug/veil-loadtest), VEIL_TEST_LOG=1 to copy
// its output to stderr.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

import WebSocket from 'ws';

import { eventually } from './harness.mjs';
import { VEIL_LOADTEST_BIN } from './impair.mjs';

const LOG = process.env.VEIL_TEST_LOG === '1';

/**
 * Starts `n` bots meeting on `server` (from startServer, with `secret` its VEIL_API_SECRET) for
 * `duration` measured seconds. Returns `{ done, stop, output }`: `done` resolves to the exit
 * code (or signal), `stop` ends the bots early, `output` is what they printed so far.
 */
export function startBotMeeting(server, secret, { n = 3, duration = 25 } = {}) {
  if (!existsSync(VEIL_LOADTEST_BIN)) {
    throw new Error(`${VEIL_LOADTEST_BIN} not found: run \`cargo build -p veil-loadtest\`, or set VEIL_LOADTEST_BIN`);
  }
  const child = spawn(
    VEIL_LOADTEST_BIN,
    ['run', 'meeting', '-n', String(n), '--duration', String(duration), '--no-baseline', '--server', server.url, '--secret', secret],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines = [];
  for (const [stream, tag] of [[child.stdout, 'bots'], [child.stderr, 'bots stderr']]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 500) lines.shift();
      if (LOG) process.stderr.write(`[${tag}] ${line}\n`);
    });
  }
  const done = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  return {
    done,
    output: () => lines.join('\n'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await done;
      }
    },
  };
}

/** A random hex string of `bytes` bytes (secrets, keys, tokens for tests). */
export function randomHex(bytes = 32) {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

/**
 * Joins `room` as `identity` over signaling alone (no media, no browser) and sends one
 * `quality_report`, as a browser does every 10 s. Resolves to `{ ws, messages }` once sent (the
 * socket stays open: close it when done).
 */
export async function reportQuality(server, { room, identity, quality, decryptFailures = 0 }) {
  const link = await server.token({ room, identity });
  const token = new URLSearchParams(new URL(link).hash.slice(1)).get('token');
  const ws = new WebSocket(server.url.replace(/^http/, 'ws') + '/ws');
  const messages = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  ws.send(JSON.stringify({ v: 2, type: 'join', room, token, min_version: 2 }));
  await eventually('joined', () => {
    const bad = messages.find((m) => m.type === 'error');
    if (bad) throw new Error(`the server refused the join: ${JSON.stringify(bad)}`);
    return messages.some((m) => m.type === 'joined');
  });
  ws.send(JSON.stringify({ v: 2, type: 'quality_report', quality, decrypt_failures: decryptFailures }));
  return { ws, messages, token };
}
