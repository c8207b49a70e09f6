// Loads the E2EE module (veil-e2ee, Rust compiled to wasm) on the page: compiled once, used by
// the MLS state here and posted, already compiled, to the encoded-transform worker.

import init, { WasmKeyRing, WasmMember } from 'veil-e2ee';

import { WASM_URL } from './protocol';

let loading: Promise<WebAssembly.Module> | null = null;

async function compile(): Promise<WebAssembly.Module> {
  const response = await fetch(WASM_URL);
  if (!response.ok) throw new Error(`cannot load ${WASM_URL}: HTTP ${response.status}`);
  if (response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Runs each MLS operation once on throwaway state. The engine compiles wasm functions lazily, on
 * their first call; doing that while the person looks at the pre-join screen takes it off the
 * join (creating the member and its key package right after `joined` went from ~80 ms to a few).
 */
export function warmUp(): void {
  const a = new WasmMember('p_warmup_a', 'warm-up');
  const b = new WasmMember('p_warmup_b', 'warm-up');
  const ring = new WasmKeyRing();
  try {
    a.createGroup(new Uint8Array(16), undefined, undefined);
    const bundle = a.addMembers([b.keyPackage()]) as { welcome: Uint8Array };
    a.mergePendingCommit();
    b.joinFromWelcome(bundle.welcome);
    a.members();
    a.verificationCode();
    ring.setEpoch(1, b.sframeEpochSecret(), b.ownLeaf(), 0);
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
