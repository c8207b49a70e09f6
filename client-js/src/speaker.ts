// Who is shown large in speaker view: the active speaker, chosen from the speaking sets that
// speaking.ts measures in this browser. The choice is sticky so that the large tile does not
// flap: someone else takes it only after speaking for `HOLD_MS` (short pauses between words do
// not restart the count), and it stays with the last speaker while nobody speaks. Our own voice
// never takes it: people want to see whom they are listening to, not themselves.
//
// A pure reducer over (state, reading), like room.ts, unit-tested in node.

/** How long someone must speak before the large tile moves to them. */
export const HOLD_MS = 1_000;
/** A silence longer than this restarts a contender's count (pauses between words are shorter). */
export const GAP_MS = 800;

export interface SpeakerState {
  /** Who is shown large, or null before anyone has spoken. */
  active: string | null;
  /** Who is speaking to take over, since when, and when they were last heard. */
  contender: string | null;
  since: number;
  heard: number;
}

export const initialSpeaker: SpeakerState = { active: null, contender: null, since: 0, heard: 0 };

export interface SpeakerReading {
  now: number;
  /** Who speaks now (by participant id); may include ourselves. */
  speaking: ReadonlySet<string>;
  /** The others in the call, in the order their tiles show. */
  present: readonly string[];
}

/** The state after one reading of who speaks. */
export function nextSpeaker(state: SpeakerState, r: SpeakerReading): SpeakerState {
  let { active, contender, since, heard } = state;
  if (active !== null && !r.present.includes(active)) active = null;
  if (contender !== null && !r.present.includes(contender)) contender = null;
  const talking = r.present.filter((id) => r.speaking.has(id));
  if (active !== null && talking.includes(active)) {
    // The one shown speaks on: nobody is about to take over.
    return { active, contender: null, since: 0, heard: 0 };
  }
  if (talking.length === 0) {
    // Silence keeps the large tile; a contender keeps its count through a short pause.
    if (contender !== null && r.now - heard > GAP_MS) contender = null;
    return { active, contender, since: contender ? since : 0, heard: contender ? heard : 0 };
  }
  if (active === null) {
    // Nobody is shown yet: the first to speak is, at once.
    return { active: talking[0] ?? null, contender: null, since: 0, heard: 0 };
  }
  if (contender === null || !talking.includes(contender) || r.now - heard > GAP_MS) {
    // A new contender (the one speaking on keeps its place over one who just started).
    const next = contender !== null && talking.includes(contender) ? contender : (talking[0] ?? null);
    return { active, contender: next, since: r.now, heard: r.now };
  }
  if (r.now - since >= HOLD_MS) return { active: contender, contender: null, since: 0, heard: 0 };
  return { active, contender, since, heard: r.now };
}

/**
 * The state after the server named `named` the active speaker (a room with server-side speaker
 * detection, where this browser's own levels no longer choose). The server may lie: it is
 * believed only for one of `candidates`, the others this client knows from its encrypted group
 * (never ourselves); anyone else, or nobody, leaves the state as it was.
 */
export function namedByServer(state: SpeakerState, named: string | null, candidates: readonly string[]): SpeakerState {
  if (named === null || !candidates.includes(named)) return state;
  if (state.active === named && state.contender === null) return state;
  return { active: named, contender: null, since: 0, heard: 0 };
}

/** The participant whose tile speaker view shows large: the active speaker, else the first other. */
export function featured(state: SpeakerState, present: readonly string[]): string | null {
  if (state.active !== null && present.includes(state.active)) return state.active;
  return present[0] ?? null;
}
