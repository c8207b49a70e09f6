// The page's side of the encoded-transform worker: creates the worker, attaches an
// RTCRtpScriptTransform to every sender and receiver (the `FrameTransforms` hook of media.ts),
// hands the worker each epoch's SFrame secret, and passes its counters on.

import type { FrameTransforms } from '../media';
import type { Source } from '../signaling';
import {
  CONTEXT_ID,
  kindOf,
  WORKER_URL,
  type EncryptTimings,
  type FromWorker,
  type ReceiverStats,
  type SenderStats,
  type ToWorker,
  type TransformOptions,
} from './protocol';

export interface WorkerReport {
  epoch: number | null;
  senders: SenderStats[];
  receivers: ReceiverStats[];
}

export interface SframeTransformsOptions {
  /** Test only: senders pass frames through unencrypted. */
  skipEncryption?: boolean;
  /** Bench only: the worker times encrypt calls of video frames. */
  benchEncrypt?: boolean;
  onReport(report: WorkerReport): void;
  /** The worker cannot run: the meeting cannot be encrypted. */
  onFailure(message: string): void;
  /** Something went wrong that does not stop the worker. */
  onProblem?(message: string): void;
}

/** A worker started ahead of the first meeting, with the module on its way. */
let prestarted: { worker: Worker; module: Promise<WebAssembly.Module> } | null = null;

function startWorker(module: Promise<WebAssembly.Module>): Worker {
  const worker = new Worker(WORKER_URL, { type: 'module', name: 'veil-e2ee' });
  // Compile and warm up the frame functions now; `init` comes with the meeting's switches.
  module.then((m) => worker.postMessage({ type: 'warm-up', module: m } satisfies ToWorker)).catch(() => {});
  return worker;
}

/** Starts the encryption worker before the first meeting (e.g. on the pre-join screen). */
export function prestartWorker(module: Promise<WebAssembly.Module>): void {
  prestarted ??= { worker: startWorker(module), module };
}

export class SframeTransforms implements FrameTransforms {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly receiverIds = new Map<RTCRtpReceiver, number>();
  private readonly senders = new Set<RTCRtpSender>();
  private timingsWaiter: ((t: EncryptTimings) => void) | null = null;
  /** The latest report from the worker. */
  last: WorkerReport = { epoch: null, senders: [], receivers: [] };

  /**
   * Starts the worker at once (transforms can be attached right away); it gets the compiled
   * module when `module` resolves, and holds frames until then.
   */
  constructor(module: Promise<WebAssembly.Module>, private readonly options: SframeTransformsOptions) {
    if (prestarted && prestarted.module === module) {
      this.worker = prestarted.worker;
    } else {
      this.worker = startWorker(module);
    }
    prestarted = null;
    this.worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => this.onMessage(ev.data));
    this.worker.addEventListener('error', (ev) =>
      options.onFailure(`the encryption worker failed: ${ev.message}`),
    );
    module.then(
      (m) =>
        this.post({
          type: 'init',
          module: m,
          skipEncryption: options.skipEncryption ?? false,
          benchEncrypt: options.benchEncrypt ?? false,
        }),
      (err: unknown) =>
        options.onFailure(`the encryption module did not load: ${err instanceof Error ? err.message : err}`),
    );
  }

  attachSender(sender: RTCRtpSender, source: Source): void {
    const options = { role: 'sender', id: this.nextId++, kind: kindOf(source), contextId: CONTEXT_ID[source] } as const;
    this.attach(sender, options);
    this.senders.add(sender);
  }

  attachReceiver(receiver: RTCRtpReceiver, participantId: string, source: Source): void {
    const contextId = CONTEXT_ID[source];
    const known = this.receiverIds.get(receiver);
    if (known !== undefined) {
      // The SFU reuses the receiver for someone else: same transform, new owner.
      this.post({ type: 'receiver', id: known, participantId, contextId });
      return;
    }
    const id = this.nextId++;
    this.receiverIds.set(receiver, id);
    const kind = receiver.track.kind === 'audio' ? 'audio' : 'video';
    this.attach(receiver, { role: 'receiver', id, kind, participantId, contextId });
  }

  /**
   * Installs a new epoch's keys and who sits at which leaf; the secret is handed over (and
   * zeroed here).
   */
  setEpoch(epoch: number, secret: Uint8Array, leaf: number, members: { leaf: number; participantId: string }[]): void {
    const copy = secret.slice();
    secret.fill(0);
    const msg: ToWorker = { type: 'epoch', epoch, secret: copy, leaf, members };
    this.worker.postMessage(msg, [copy.buffer]);
  }

  /** Forgets every key: nothing more is sent, nothing more decrypts. */
  clear(): void {
    this.post({ type: 'clear' });
  }

  /** Bench only: the worker's encrypt timings. */
  timings(): Promise<EncryptTimings> {
    return new Promise((resolve) => {
      this.timingsWaiter = resolve;
      this.post({ type: 'timings' });
    });
  }

  close(): void {
    this.worker.terminate();
  }

  private attach(target: RTCRtpSender | RTCRtpReceiver, options: TransformOptions): void {
    try {
      target.transform = new RTCRtpScriptTransform(this.worker, options);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.options.onFailure(`cannot attach the encryption transform: ${why}`);
    }
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'ready':
        performance.mark('veil:worker-ready');
        break;
      case 'failed':
        this.options.onFailure(msg.message);
        break;
      case 'problem':
        console.warn(`veil: ${msg.message}`);
        this.options.onProblem?.(msg.message);
        break;
      case 'report':
        this.last = { epoch: msg.epoch, senders: msg.senders, receivers: msg.receivers };
        this.options.onReport(this.last);
        break;
      case 'timings':
        this.timingsWaiter?.(msg.timings);
        this.timingsWaiter = null;
        break;
    }
  }
}

/** Whether this browser can run the encoded-transform worker. */
export function scriptTransformSupported(): boolean {
  return typeof RTCRtpScriptTransform === 'function';
}
