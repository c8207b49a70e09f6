// The encoded-transform worker: one per meeting, shared by every RTCRtpScriptTransform of the
// page's peer connection. It holds the participant's SFrame key ring (WasmKeyRing) and
// encrypts every outgoing frame and decrypts every incoming one.
//
// - Senders: a frame leaves only encrypted under the current epoch's key. Before the first key
//   arrives, frames are dropped: nothing is ever sent in the clear (unless the test switch
//   `insecureSkipEncryption` is on). The codec header stays in the clear as authenticated SFrame
//   metadata, by the one rule every Veil client applies (veil-e2ee's `frame::codec`).
// - Receivers: a frame that does not decrypt and authenticate, or whose sender is not the
//   participant and source whose track it arrived on, is dropped, never handed to the decoder, and
//   counted by kind; the counters go to the main thread every REPORT_INTERVAL_MS when they
//   changed, which turns them into "decryption failing" or "not encrypted".
//
// The main thread posts each new epoch's secret (`{type:'epoch'}`); the ring keeps the previous
// epoch for GRACE_MS for late frames. Secrets never leave this worker or the MLS state.

import { initSync, WasmKeyRing } from 'veil-e2ee';

import {
  GRACE_MS,
  REPORT_INTERVAL_MS,
  type EncryptTimings,
  type FromWorker,
  type ReceiverStats,
  type SenderStats,
  type ToWorker,
  type TransformOptions,
} from './protocol';

/** The parts of the worker-only WebRTC API used here (lib.dom does not declare them). */
interface ScriptTransformer {
  readonly readable: ReadableStream<RTCEncodedVideoFrame | RTCEncodedAudioFrame>;
  readonly writable: WritableStream<RTCEncodedVideoFrame | RTCEncodedAudioFrame>;
  readonly options: TransformOptions;
  sendKeyFrameRequest?(): Promise<void>;
}
interface WorkerScope {
  postMessage(message: FromWorker): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent<ToWorker>) => void): void;
  addEventListener(type: 'rtctransform', listener: (ev: Event & { transformer: ScriptTransformer }) => void): void;
}
const scope = self as unknown as WorkerScope;

type Frame = RTCEncodedVideoFrame | RTCEncodedAudioFrame;

let ring: WasmKeyRing | null = null;
let skipEncryption = false;
let benchEncrypt = false;
let readyResolve: () => void = () => {};
const ready = new Promise<void>((resolve) => {
  readyResolve = resolve;
});

const senders = new Map<number, SenderStats>();
const receivers = new Map<number, ReceiverStats>();
let dirty = false;

/** Bench only: per-frame encrypt cost of video frames. */
const timings: EncryptTimings = { videoEncryptUs: [], videoFrameBytes: [], keyFrames: 0 };
const MAX_TIMINGS = 5_000;
/** Bench only: a second ring, so repeated timing calls don't touch the real counters. */
let benchRing: WasmKeyRing | null = null;

const now = (): number => Math.floor(performance.now());

function kindOf(err: unknown): string {
  const kind = (err as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? kind : 'error';
}

scope.addEventListener('message', (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'warm-up':
      try {
        load(msg.module);
        warmUp();
      } catch {
        // `init` will report it.
      }
      break;
    case 'init':
      try {
        load(msg.module);
        ring = new WasmKeyRing(GRACE_MS);
        skipEncryption = msg.skipEncryption;
        benchEncrypt = msg.benchEncrypt;
        if (benchEncrypt) {
          benchRing = new WasmKeyRing(GRACE_MS);
          benchRing.setEpoch(1, new Uint8Array(16).fill(7), 0, now());
        }
        readyResolve();
        scope.postMessage({ type: 'ready' });
      } catch (err) {
        scope.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      }
      break;
    case 'epoch':
      try {
        ring?.setEpoch(msg.epoch, msg.secret, msg.leaf, now());
        ring?.setMembers(msg.epoch, msg.members);
      } catch (err) {
        scope.postMessage({ type: 'problem', message: `cannot install epoch ${msg.epoch}: ${kindOf(err)}` });
      }
      msg.secret.fill(0);
      dirty = true;
      break;
    case 'receiver': {
      const stats = receivers.get(msg.id);
      if (stats) {
        // Counters start afresh for the new participant.
        receivers.set(msg.id, freshReceiver(msg.id, stats.kind, msg.participantId, msg.contextId));
        dirty = true;
      }
      break;
    }
    case 'clear':
      ring?.free();
      ring = new WasmKeyRing(GRACE_MS);
      dirty = true;
      break;
    case 'timings':
      scope.postMessage({ type: 'timings', timings });
      break;
  }
});

let loaded = false;
function load(module: WebAssembly.Module): void {
  if (loaded) return;
  initSync({ module });
  loaded = true;
}

/** Runs encrypt and decrypt once, so that the engine compiles them before the first frame. */
function warmUp(): void {
  const a = new WasmKeyRing();
  const b = new WasmKeyRing();
  try {
    const secret = new Uint8Array(16);
    a.setEpoch(1, secret, 0, 0);
    b.setEpoch(1, secret, 1, 0);
    b.setMembers(1, [{ leaf: 0, participantId: 'a' }]);
    const frame = new Uint8Array(1200).fill(1);
    frame[0] = 0; // a VP8 key frame
    b.decryptFrom('a', 'video', a.encryptMedia('video', 1, frame));
  } finally {
    a.free();
    b.free();
  }
}

function freshReceiver(
  id: number,
  kind: ReceiverStats['kind'],
  participantId: string,
  contextId: number,
): ReceiverStats {
  return {
    id,
    kind,
    participantId,
    contextId,
    decrypted: 0,
    failures: {},
    lastFailure: null,
    lastEpoch: null,
    lastSenderLeaf: null,
  };
}

scope.addEventListener('rtctransform', (ev) => {
  const transformer = ev.transformer;
  const options = transformer.options;
  const transform =
    options.role === 'sender' ? senderTransform(options) : receiverTransform(options, transformer);
  transformer.readable
    .pipeThrough(new TransformStream<Frame, Frame>({ transform }))
    .pipeTo(transformer.writable)
    .catch(() => {
      // The transceiver stopped or the connection closed; nothing to do.
    });
});

type TransformFn = (frame: Frame, controller: TransformStreamDefaultController<Frame>) => Promise<void> | void;

function senderTransform(options: Extract<TransformOptions, { role: 'sender' }>): TransformFn {
  const stats: SenderStats = {
    id: options.id,
    kind: options.kind,
    contextId: options.contextId,
    encrypted: 0,
    dropped: 0,
    clear: 0,
  };
  senders.set(options.id, stats);
  return async (frame, controller) => {
    await ready;
    dirty = true;
    if (skipEncryption) {
      stats.clear++;
      controller.enqueue(frame);
      return;
    }
    if (!ring || ring.epoch() === undefined) {
      stats.dropped++; // no key yet: never send in the clear
      return;
    }
    const data = new Uint8Array(frame.data);
    try {
      const out = ring.encryptMedia(options.kind, options.contextId, data);
      if (benchEncrypt && options.kind === 'video') recordTiming(data);
      frame.data = out.buffer as ArrayBuffer;
      stats.encrypted++;
      controller.enqueue(frame);
    } catch {
      stats.dropped++;
    }
  };
}

/**
 * Bench only. performance.now() is coarse in a page that is not cross-origin isolated (100 µs in
 * Chromium), so the cost of one frame is measured over several encrypt calls of the same frame
 * on a separate ring (the real ring's counters are untouched).
 */
function recordTiming(data: Uint8Array): void {
  if (!benchRing || timings.videoEncryptUs.length >= MAX_TIMINGS) return;
  const repeat = 20;
  const t0 = performance.now();
  for (let i = 0; i < repeat; i++) benchRing.encryptMedia('video', 1, data);
  const us = ((performance.now() - t0) * 1000) / repeat;
  timings.videoEncryptUs.push(us);
  timings.videoFrameBytes.push(data.length);
  if (((data[0] ?? 1) & 1) === 0) timings.keyFrames++;
}

function receiverTransform(
  options: Extract<TransformOptions, { role: 'receiver' }>,
  transformer: ScriptTransformer,
): TransformFn {
  receivers.set(options.id, freshReceiver(options.id, options.kind, options.participantId, options.contextId));
  let failedSinceOk = false;
  let lastKeyFrameRequest = 0;
  return async (frame, controller) => {
    await ready;
    dirty = true;
    const stats = receivers.get(options.id);
    if (!stats) return;
    const data = new Uint8Array(frame.data);
    if (!ring) return;
    try {
      // Bound to the participant whose track this is and the source it claims (the SFU's
      // msid, which the ring checks against the group's leaves and the frame's context):
      // another member's frames, or the owner's camera passed off as a screen, never play here.
      const result = ring.decryptFrom(stats.participantId, options.kind, data, stats.contextId) as {
        plaintext: Uint8Array;
        senderLeaf: number;
        epoch: number;
      };
      frame.data = result.plaintext.buffer as ArrayBuffer;
      stats.decrypted++;
      stats.lastEpoch = result.epoch;
      stats.lastSenderLeaf = result.senderLeaf;
      controller.enqueue(frame);
      // Frames were dropped: the decoder lacks references until the next key frame.
      if (failedSinceOk && options.kind === 'video') requestKeyFrame();
      failedSinceOk = false;
    } catch (err) {
      const kind = kindOf(err);
      stats.failures[kind] = (stats.failures[kind] ?? 0) + 1;
      stats.lastFailure = kind;
      failedSinceOk = true;
      // Dropped: a frame that did not authenticate never reaches the decoder.
    }
  };

  function requestKeyFrame(): void {
    const t = now();
    if (t - lastKeyFrameRequest < 1_000 || !transformer.sendKeyFrameRequest) return;
    lastKeyFrameRequest = t;
    transformer.sendKeyFrameRequest().catch(() => {});
  }
}

setInterval(() => {
  ring?.expire(now());
  if (!dirty) return;
  dirty = false;
  scope.postMessage({
    type: 'report',
    epoch: ring?.epoch() ?? null,
    senders: [...senders.values()],
    receivers: [...receivers.values()],
  });
}, REPORT_INTERVAL_MS);
