// A network namespace for a browser whose network blocks what a test says, in front of a server
// in the host's namespace: a veth pair with /30 addresses, and nftables rules on the
// namespace's output that drop, and count, what is blocked. Chromium runs inside it through a
// wrapper script given to playwright as its executable. Needs root, `ip` and `nft`
// (`scripts/setup.sh test`).

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { promisify } from 'node:util';

import { CHROMIUM } from './harness.mjs';

const run = promisify(execFile);

let created = 0;

/**
 * A namespace whose traffic to the host drops: all UDP (`blockUdp`), and TCP to every port but
 * `allowTcpPorts` (when `blockTcp`). Returns the host's address in it (bind servers there),
 * the wrapper that runs Chromium inside, `dropped()` (packets the rules dropped) and `close()`.
 */
export async function blockedNamespace({ blockUdp = true, blockTcp = false, allowTcpPorts = [] } = {}) {
  created += 1;
  const id = `${process.pid % 10000}${created}`;
  const ns = `veil-blk-${id}`;
  const [host, inside] = [`vbh${id}`, `vbn${id}`];
  const subnet = (process.pid % 200) + created;
  const hostAddr = `10.231.${subnet}.1`;
  const nsAddr = `10.231.${subnet}.2`;
  const ip = (...args) => run('ip', args);
  const inNs = (...args) => run('ip', ['netns', 'exec', ns, ...args]);
  await ip('netns', 'add', ns);
  const dir = await mkdtemp(joinPath(tmpdir(), 'veil-netns-'));
  try {
    await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inside);
    await ip('link', 'set', inside, 'netns', ns);
    await ip('addr', 'add', `${hostAddr}/30`, 'dev', host);
    await ip('link', 'set', host, 'up');
    await inNs('ip', 'addr', 'add', `${nsAddr}/30`, 'dev', inside);
    await inNs('ip', 'link', 'set', inside, 'up');
    await inNs('ip', 'link', 'set', 'lo', 'up');
    const rules = [`table inet veil {`, `  chain out {`, `    type filter hook output priority 0; policy accept;`];
    if (blockUdp) rules.push(`    ip daddr ${hostAddr} meta l4proto udp counter drop`);
    if (blockTcp) {
      const allowed = allowTcpPorts.length ? `tcp dport != { ${allowTcpPorts.join(', ')} } ` : '';
      rules.push(`    ip daddr ${hostAddr} ${allowed}meta l4proto tcp counter drop`);
    }
    rules.push('  }', '}', '');
    const rulesFile = joinPath(dir, 'rules.nft');
    await writeFile(rulesFile, rules.join('\n'));
    await inNs('nft', '-f', rulesFile);
    const wrapper = joinPath(dir, 'chromium-in-namespace');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    return {
      ns,
      hostAddr,
      nsAddr,
      chromium: wrapper,
      /** Lets TCP to the host's `port` through again (a web or TURN port chosen later). */
      async allowTcp(port) {
        await inNs('nft', 'insert', 'rule', 'inet', 'veil', 'out', 'ip', 'daddr', hostAddr, 'tcp', 'dport', String(port), 'accept');
      },
      /** Packets the namespace's rules dropped so far. */
      async dropped() {
        const { stdout } = await inNs('nft', 'list', 'table', 'inet', 'veil');
        return [...stdout.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      },
      async close() {
        await ip('netns', 'del', ns).catch(() => {});
        await ip('link', 'del', host).catch(() => {});
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await ip('netns', 'del', ns).catch(() => {});
    await ip('link', 'del', host).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
