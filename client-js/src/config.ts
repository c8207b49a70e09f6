// `window.veilConfig`: settings read when a meeting starts, set before the page loads (tests,
// benchmarks, people debugging). Nothing here is for production use except the capture sizes.

import type { CaptureConfig } from './devices';

export interface VeilConfig extends Partial<CaptureConfig> {
  /**
   * BENCHMARK ONLY. `false` turns end-to-end encryption off entirely: no MLS, no transforms,
   * frames travel as the encoder made them. Exists to measure what E2EE costs; a client with it
   * off is shown to everyone as "not encrypted".
   */
  e2ee?: boolean;
  /**
   * TEST ONLY. `true` makes this client's senders pass frames through unencrypted (it still
   * joins the MLS group and decrypts what it receives), to prove that the others refuse them.
   */
  insecureSkipEncryption?: boolean;
  /** BENCHMARK ONLY. `true` makes the worker time the encrypt call of every video frame. */
  benchEncrypt?: boolean;
}

declare global {
  interface Window {
    veilConfig?: VeilConfig;
  }
}

export interface E2eeConfig {
  enabled: boolean;
  skipEncryption: boolean;
  benchEncrypt: boolean;
}

export function e2eeConfig(): E2eeConfig {
  const c = window.veilConfig ?? {};
  return {
    enabled: c.e2ee !== false,
    skipEncryption: c.insecureSkipEncryption === true,
    benchEncrypt: c.benchEncrypt === true,
  };
}
