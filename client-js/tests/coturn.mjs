// A real coturn for tests and benchmarks: the TURN server Veil's `[turn]` names, taking the
// TURN REST API's credentials minted from the secret both share (`use-auth-secret`). Needs
// `turnserver` (`scripts/setup.sh test`).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

import { eventually } from './harness.mjs';

/**
 * A real coturn on `host:port` that takes the TURN REST API's credentials minted from `secret`
 * (what Veil's `[turn]` shares with it) and relays from `host`. Resolves once it listens;
 * `log()` is what it printed, `stop()` ends it.
 */
export async function startCoturn(host, port, secret) {
  const args = [
    '-n', '--no-cli', '--no-tls', '--no-dtls', '--simple-log',
    `--listening-ip=${host}`, `--relay-ip=${host}`, `--listening-port=${port}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=veil.test',
    '--min-port=49152', '--max-port=49407', '--fingerprint',
  ];
  const dir = await mkdtemp(joinPath(tmpdir(), 'veil-coturn-'));
  args.push(`--pidfile=${joinPath(dir, 'turnserver.pid')}`, `--userdb=${joinPath(dir, 'turndb')}`, '--log-file=stdout');
  const child = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const collect = (chunk) => lines.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = null;
  child.once('exit', (code) => (exited = code));
  await eventually(`coturn listening on ${host}:${port}`, async () => {
    if (exited !== null) throw new Error(`turnserver exited (${exited})`);
    return new Promise((resolve, reject) => {
      const probe = connect(port, host, () => probe.end(() => resolve(true))).once('error', reject);
    });
  });
  return {
    log: () => lines.join('\n'),
    async stop() {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
