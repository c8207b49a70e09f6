// Who is speaking, from the audio levels the browser already measures (inbound-rtp for others,
// media-source for ourselves). Computed here, in the client, so the server needs no audio levels.

const POLL_MS = 400;
/** audioLevel is 0..1 (linear); speech is usually well above this, silence well below. */
const SPEAKING_LEVEL = 0.04;

export function watchSpeaking(
  pc: RTCPeerConnection,
  selfId: string,
  ownerOfTrackId: (trackId: string) => string | undefined,
  onChange: (speaking: Set<string>) => void,
): () => void {
  let stopped = false;
  let last = '';
  const poll = async (): Promise<void> => {
    if (stopped || pc.connectionState === 'closed') return;
    const speaking = new Set<string>();
    const report = await pc.getStats().catch(() => null);
    report?.forEach((s: Record<string, unknown>) => {
      const level = typeof s.audioLevel === 'number' ? s.audioLevel : 0;
      if (level < SPEAKING_LEVEL) return;
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.trackIdentifier === 'string') {
        const owner = ownerOfTrackId(s.trackIdentifier);
        if (owner) speaking.add(owner);
      } else if (s.type === 'media-source' && s.kind === 'audio') {
        speaking.add(selfId);
      }
    });
    const key = [...speaking].sort().join(',');
    if (!stopped && key !== last) {
      last = key;
      onChange(speaking);
    }
  };
  const timer = window.setInterval(() => void poll(), POLL_MS);
  return () => {
    stopped = true;
    window.clearInterval(timer);
  };
}
