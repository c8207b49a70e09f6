// What the main thread and the encoded-transform worker say to each other (postMessage), and
// the options each RTCRtpScriptTransform carries. Shared by both bundles; types and pure
// helpers only, so that the worker bundle stays free of DOM code.

import type { Source } from '../signaling';

/** The URL both the page and the worker load the E2EE module from. */
export const WASM_URL = '/assets/veil_e2ee_bg.wasm';
/** The worker bundle. */
export const WORKER_URL = '/assets/e2ee-worker.js';

/**
 * SFrame context ids, one per source, so that no two tracks of a sender share a counter under
 * one key (RFC 9605 §5.2; see e2ee/src/frame/kid.rs), and a receiver can tell which source a
 * frame was encrypted for (proto's `Source::context_id`).
 */
export const CONTEXT_ID: Record<Source, number> = { microphone: 0, camera: 1, screen: 2, screen_audio: 3 };

/** Whether `source` carries audio. */
export function kindOf(source: Source): MediaKind {
  return source === 'microphone' || source === 'screen_audio' ? 'audio' : 'video';
}

/** How long the worker keeps a superseded epoch's keys for late frames. */
export const GRACE_MS = 10_000;

/** How often the worker reports its counters (only when something changed). */
export const REPORT_INTERVAL_MS = 500;

export type MediaKind = 'audio' | 'video';

export type TransformOptions =
  | { role: 'sender'; id: number; kind: MediaKind; contextId: number }
  /** `contextId`: the context of the source the track claims; frames for another are refused. */
  | { role: 'receiver'; id: number; kind: MediaKind; participantId: string; contextId: number };

export type ToWorker =
  /** Compile and exercise the frame functions ahead of time (the meeting's `init` follows). */
  | { type: 'warm-up'; module: WebAssembly.Module }
  /** The compiled module (one compile per page) and test switches. */
  | { type: 'init'; module: WebAssembly.Module; skipEncryption: boolean; benchEncrypt: boolean }
  /**
   * The keys of a new epoch: from now on, send in it. `members` says who sits at which leaf:
   * a received frame plays only if its sender leaf is its track owner's.
   */
  | { type: 'epoch'; epoch: number; secret: Uint8Array; leaf: number; members: { leaf: number; participantId: string }[] }
  /** The SFU reassigned a receiver to another participant (or source). */
  | { type: 'receiver'; id: number; participantId: string; contextId: number }
  /** Forget every key (removed from the group, or leaving). */
  | { type: 'clear' }
  /** Bench only: send back the encrypt timings collected so far. */
  | { type: 'timings' };

export interface SenderStats {
  id: number;
  kind: MediaKind;
  contextId: number;
  /** Frames sent encrypted. */
  encrypted: number;
  /** Frames dropped because no epoch key was installed yet (or encryption failed). */
  dropped: number;
  /** Frames sent in the clear (test switch `insecureSkipEncryption` only). */
  clear: number;
}

/** Decryption outcomes of one receiver, counted since it was attached. */
export interface ReceiverStats {
  id: number;
  kind: MediaKind;
  participantId: string;
  contextId: number;
  decrypted: number;
  /**
   * Failures by kind (`FrameError` codes: not-encrypted, unknown-epoch, authentication-failed,
   * wrong-sender for a frame whose sender is not the track's owner, wrong-source for one
   * encrypted for another of the owner's sources, …).
   */
  failures: Record<string, number>;
  /** The kind of the latest failure, if any. */
  lastFailure: string | null;
  /** Epoch and (authenticated) sender leaf of the latest frame that decrypted. */
  lastEpoch: number | null;
  lastSenderLeaf: number | null;
}

export interface EncryptTimings {
  /** Microseconds per encrypt call of a video frame, one sample per frame. */
  videoEncryptUs: number[];
  /** Sizes in bytes of the same frames. */
  videoFrameBytes: number[];
  /** Key frames among them. */
  keyFrames: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'problem'; message: string }
  | { type: 'report'; epoch: number | null; senders: SenderStats[]; receivers: ReceiverStats[] }
  | { type: 'timings'; timings: EncryptTimings };
