// A man in the middle for browser tests: an HTTP and WebSocket proxy between Chromium and
// `veil serve` that the test controls, standing in for a malicious server. Pages load through
// it, and every signaling message passes through hooks that may rewrite or drop it; the test
// can also send a page messages the real server never sent. Native clients for the same tests
// (a colluding member, an outsider) speak the signaling protocol with the wasm MLS build.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';

import { CLIENT_DIR } from './harness.mjs';

const WASM_PKG = joinPath(CLIENT_DIR, '../target/wasm-pkg');

/** The wasm build of veil-e2ee, loaded in node. */
export async function loadWasm() {
  const pkg = await import(joinPath(WASM_PKG, 'veil_e2ee.js'));
  pkg.initSync({ module: readFileSync(joinPath(WASM_PKG, 'veil_e2ee_bg.wasm')) });
  return pkg;
}

/**
 * Starts the proxy in front of `upstream` (the server's base URL). Hooks see each message as
 * an object and return it (possibly changed), or `null` to drop it.
 */
export async function startProxy(upstream) {
  const target = new URL(upstream);
  const conns = [];
  const toClient = [];
  const toServer = [];
  const wss = new WebSocketServer({ noServer: true });

  const server = http.createServer((req, res) => {
    const proxied = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    proxied.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(proxied);
  });

  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const up = new WebSocket(`ws://${target.host}${req.url}`);
      const pending = [];
      const conn = {
        participantId: null,
        room: null,
        /** Messages the page sent, as the server received them. */
        sent: [],
        /** Sends the page a message the server never sent. */
        sendToClient(msg) {
          if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify({ v: 2, ...msg }));
        },
      };
      conns.push(conn);
      up.on('open', () => {
        for (const text of pending.splice(0)) up.send(text);
      });
      client.on('message', (data) => {
        let msg = JSON.parse(String(data));
        if (msg.type === 'join') conn.room = msg.room;
        for (const hook of toServer) msg = msg && hook(msg, conn);
        if (!msg) return;
        conn.sent.push(msg);
        const text = JSON.stringify(msg);
        if (up.readyState === WebSocket.OPEN) up.send(text);
        else pending.push(text);
      });
      up.on('message', (data) => {
        let msg = JSON.parse(String(data));
        if (msg.type === 'joined') conn.participantId = msg.participant_id;
        for (const hook of toClient) msg = msg && hook(msg, conn);
        if (msg && client.readyState === WebSocket.OPEN) client.send(JSON.stringify(msg));
      });
      const closeBoth = () => {
        client.close();
        up.close();
      };
      client.on('close', closeBoth);
      up.on('close', closeBoth);
      client.on('error', closeBoth);
      up.on('error', closeBoth);
    });
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    conns,
    /** Rewrites server-to-page messages. */
    onToClient(hook) {
      toClient.push(hook);
    },
    /** Rewrites page-to-server messages. */
    onToServer(hook) {
      toServer.push(hook);
    },
    /** The connection of the page that joined as `participantId`. */
    of(participantId) {
      return conns.find((c) => c.participantId === participantId);
    },
    /** A join link of the real server, pointed at the proxy. */
    link(realLink, realUrl) {
      return realLink.replace(realUrl, `http://127.0.0.1:${port}`);
    },
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A signaling client in node: joins with a token and hands back messages by type, in order.
 * It speaks straight to the server (a participant the test plays, not a browser).
 */
export async function nativeClient(serverUrl, room, token) {
  const ws = new WebSocket(`${serverUrl.replace('http', 'ws')}/ws`);
  const inbox = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    inbox.push(msg);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const client = {
    send(msg) {
      ws.send(JSON.stringify({ v: 2, ...msg }));
    },
    /** The next message of `type` (earlier ones of other types stay for later). */
    async next(type, timeout = 15_000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type);
        if (i >= 0) return inbox.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error(`no ${type} within ${timeout} ms: ${JSON.stringify(inbox.map((m) => m.type))}`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    close() {
      ws.close();
    },
  };
  client.send({ type: 'join', room, token, min_version: 2 });
  client.joined = await client.next('joined');
  return client;
}

/** The token in a join link's fragment. */
export function tokenOf(link) {
  return new URLSearchParams(new URL(link).hash.slice(1)).get('token');
}

export const b64 = (bytes) => Buffer.from(bytes).toString('base64');
export const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64'));
