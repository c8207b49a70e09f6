// Parts for tests of several nodes: a real Redis, and a load balancer in front of the nodes,
// as an operator's would be. Needs `redis-server` (`scripts/setup.sh test`).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

import { eventually, freePort } from './harness.mjs';

/** A real redis-server on a free loopback port, keeping nothing on disk. `url`, `stop()`. */
export async function startRedis() {
  const port = await freePort();
  const dir = await mkdtemp(joinPath(tmpdir(), 'veil-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const collect = (chunk) => lines.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = null;
  child.once('exit', (code) => (exited = code));
  await eventually(`redis-server on port ${port}`, () => {
    if (exited !== null) throw new Error(`redis-server exited (${exited}): ${lines.join('\n')}`);
    return lines.some((l) => /Ready to accept connections/.test(l));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (exited === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP load balancer on a free loopback port in front of `backends` ("host:port"): each
 * signaling WebSocket (a connection whose request is `GET /ws`) goes to the next backend in
 * turn, any other connection to the first; a backend that refuses the connection is skipped,
 * as a health-checking balancer would. `url`, `wsCounts()` (WebSocket connections each backend
 * got), `close()`.
 */
export async function startBalancer(backends) {
  let turn = 0;
  const wsCounts = backends.map(() => 0);
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.once('error', () => client.destroy());
    client.once('data', (head) => {
      client.pause();
      const isWs = head.toString('latin1', 0, 8) === 'GET /ws ' || head.toString('latin1', 0, 8) === 'GET /ws?';
      const start = isWs ? turn++ : 0;
      tryBackend(client, head, start, isWs, 0);
    });
  });
  /** Connects `client` to the backend at `index` (mod n), or the next one if it refuses. */
  function tryBackend(client, head, index, isWs, tried) {
    if (tried === backends.length) return client.destroy();
    const i = index % backends.length;
    const [host, port] = backends[i].split(':');
    const upstream = connect(Number(port), host);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      if (isWs) wsCounts[i] += 1;
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
    });
    upstream.on('error', () => {
      if (!connected) tryBackend(client, head, index + 1, isWs, tried + 1);
      else client.destroy();
    });
  }
  const port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  return {
    url: `http://127.0.0.1:${port}`,
    wsCounts: () => [...wsCounts],
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
