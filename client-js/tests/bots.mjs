// A meeting of bots for tests that need traffic through a running `veil serve` but no browser:
// `veil-loadtest run meeting --server URL --secret HEX` (WebRTC participants that publish
// simulcast video and audio and subscribe to each other; see docs/loadtest.md).
//
// Environment: VEIL_LOADTEST_BIN (default ../target/debug/veil-loadtest), VEIL_TEST_LOG=1 to copy
// its output to stderr.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

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
