// Tells the SFU how large this client shows each video it receives, so that it forwards the
// simulcast layer that fills the tile (a thumbnail never pulls 720p) and nothing for a video
// that is not on screen. Sizes go by the receiving m-line's mid, which the SFU knows; they say
// nothing about whose video it is that the server does not already know. Reported when they
// change, checked twice a second.

/** One received video's shown height in device pixels; 0: not on screen. */
export interface TileSize {
  mid: string;
  height: number;
}

const CHECK_MS = 500;

/** Heights are rounded up to a multiple of this, so that a few pixels of resize send nothing. */
const STEP_PX = 30;

/** The tile sizes to report: every receiving video m-line, with the height `shownHeight` gives its track. */
export function tileSizes(
  transceivers: readonly { mid: string | null; kind: string; track: MediaStreamTrack | null; receiving: boolean }[],
  shownHeight: (track: MediaStreamTrack) => number,
): TileSize[] {
  const sizes: TileSize[] = [];
  for (const t of transceivers) {
    if (t.mid === null || t.kind !== 'video' || !t.receiving || t.track === null) continue;
    const height = Math.max(0, shownHeight(t.track));
    sizes.push({ mid: t.mid, height: Math.ceil(height / STEP_PX) * STEP_PX });
  }
  return sizes.sort((a, b) => a.mid.localeCompare(b.mid));
}

/** Reports the tile sizes of `pc`'s received videos through `send` whenever they change. */
export function watchTileSizes(
  pc: RTCPeerConnection,
  shownHeight: (track: MediaStreamTrack) => number,
  send: (tiles: TileSize[]) => void,
): () => void {
  let last = '';
  const check = (): void => {
    if (pc.connectionState === 'closed') return;
    const sizes = tileSizes(
      pc.getTransceivers().map((t) => ({
        mid: t.mid,
        kind: t.receiver.track.kind,
        track: t.receiver.track,
        receiving: t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv',
      })),
      shownHeight,
    );
    const key = JSON.stringify(sizes);
    if (key === last) return;
    last = key;
    send(sizes);
  };
  const timer = window.setInterval(check, CHECK_MS);
  return () => window.clearInterval(timer);
}
