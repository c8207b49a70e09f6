// Who is speaking, from the audio levels the browser already measures (inbound-rtp for others,
// media-source for ourselves). Computed here, in the client, so the server needs no audio levels.
// The readings come from the call's one getStats poll (callstats.ts).

import type { StatsEntry } from './quality';

/** audioLevel is 0..1 (linear); speech is usually well above this, silence well below. */
export const SPEAKING_LEVEL = 0.04;

/**
 * The participants speaking in one getStats reading: `ownerOfTrackId` names the participant
 * behind a received track (undefined: no one we know, ignored); our own level counts for `selfId`.
 */
export function speakingIn(
  stats: readonly StatsEntry[],
  selfId: string,
  ownerOfTrackId: (trackId: string) => string | undefined,
): Set<string> {
  const speaking = new Set<string>();
  for (const s of stats) {
    const level = typeof s.audioLevel === 'number' ? s.audioLevel : 0;
    if (level < SPEAKING_LEVEL) continue;
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.trackIdentifier === 'string') {
      const owner = ownerOfTrackId(s.trackIdentifier);
      if (owner) speaking.add(owner);
    } else if (s.type === 'media-source' && s.kind === 'audio') {
      speaking.add(selfId);
    }
  }
  return speaking;
}
