// Loads the E2EE module (veil-e2ee, Rust compiled to wasm) on the page: compiled once, used by
// the key-agreement session here and posted, already compiled, to the encoded-transform worker.

import init, { WasmKeyRing, WasmSession } from 'veil-e2ee';

import { WASM_URL } from './protocol';
import type { ParticipantInfo, ServerMessage } from '../signaling';

let loading: Promise<WebAssembly.Module> | null = null;

async function compile(): Promise<WebAssembly.Module> {
  const response = await fetch(WASM_URL);
  if (!response.ok) throw new Error(`cannot load ${WASM_URL}: HTTP ${response.status}`);
  if (response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

type Output = { type: string; message?: string; epoch?: number; leaf?: number; secret?: Uint8Array };

/** Everything a session has to say until it wants time. */
function drain(session: WasmSession): Output[] {
  const out: Output[] = [];
  for (;;) {
    const o = session.poll() as Output;
    if (o.type === 'timeout') return out;
    out.push(o);
  }
}

/** The first message of `type` a session sent. */
function sent(outputs: Output[], type: string): Record<string, unknown> | undefined {
  for (const o of outputs) {
    if (o.type !== 'send' || !o.message) continue;
    const msg = JSON.parse(o.message) as Record<string, unknown>;
    if (msg.type === type) return msg;
  }
  return undefined;
}

/**
 * Runs each MLS operation once on throwaway sessions: create, key package, add, Welcome, merge.
 * The engine compiles wasm functions lazily, on their first call; doing that while the person
 * looks at the pre-join screen takes it off the join (creating the member and its key package
 * right after `joined` went from ~80 ms to a few).
 */
export function warmUp(): void {
  const e2ee = (create: boolean) => ({
    group_id: 'AAAAAAAAAAAAAAAAAAAAAA==',
    external_sender: { signature_key: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=', identity: 'd2FybS11cA==' },
    create_group: create,
  });
  // Typed as the protocol's messages, so that a change to them shows here at compile time.
  const peer: ParticipantInfo = { id: 'p_warmup_a', identity: 'warm-up', microphone: false, camera: false, screen: false, host: false };
  const joinedA: Extract<ServerMessage, { type: 'joined' }> = {
    type: 'joined',
    participant_id: 'p_warmup_a',
    room: 'warm-up',
    identity: 'a',
    grants: { publish: [], subscribe: true, host: false, bypass_lobby: false },
    policy: { lobby: false, locked: false, max_participants: 2, screen_share: 'granted', chat_retention_secs: 3600 },
    participants: [],
    e2ee: e2ee(true),
  };
  const joinedB = { ...joinedA, participant_id: 'p_warmup_b', identity: 'b', participants: [peer], e2ee: e2ee(false) };
  const a = new WasmSession(JSON.stringify(joinedA), 'warm-up', 0);
  const b = new WasmSession(JSON.stringify(joinedB), 'warm-up', 0);
  const ring = new WasmKeyRing();
  try {
    drain(a);
    const keyPackage = sent(drain(b), 'mls_key_package')?.key_package;
    a.handle(JSON.stringify({ type: 'participant_joined', participant: { ...peer, id: 'p_warmup_b' } }), 0);
    const request = { type: 'mls_add_request', participant_id: 'p_warmup_b', key_package: keyPackage, committer: 'p_warmup_a' };
    a.handle(JSON.stringify(request), 0);
    const welcome = sent(drain(a), 'mls_commit')?.welcome;
    b.handle(JSON.stringify({ type: 'mls_welcome', welcome }), 0);
    a.handle(JSON.stringify({ type: 'mls_commit_accepted', epoch: 1 }), 0);
    const epoch = drain(a).find((o) => o.type === 'epoch');
    drain(b);
    a.members();
    a.code();
    if (epoch?.secret) ring.setEpoch(1, epoch.secret, epoch.leaf ?? 0, 0);
  } finally {
    a.free();
    b.free();
    ring.free();
  }
}

/** Loads (once) and initialises the module; resolves to the compiled module for the worker. */
export function loadE2ee(): Promise<WebAssembly.Module> {
  loading ??= (async () => {
    const module = await compile();
    await init({ module_or_path: module });
    performance.mark('veil:e2ee-loaded');
    return module;
  })().catch((err: unknown) => {
    loading = null; // a later attempt may succeed
    throw err;
  });
  return loading;
}
