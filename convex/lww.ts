// Fields that several events set: the value of the latest event in timeline
// order wins, whatever the arrival order (last writer wins), or, for the
// fields marked `first`, the value of the earliest one. Each row keeps, in
// `timelines`, the timeline key of the event that set each field.
//
// Both are per field, so that an event that omits an optional field does
// not hide the value an earlier event gave it: the result is a function of
// the set of events, never of their arrival.

/** Per field: the timeline key of the event that last set it. */
export type Timelines = Record<string, string>;

/**
 * The patch that `fields` (set by the event at timeline `t`) make to a row
 * whose fields were set at `timelines`; undefined fields are skipped.
 * `first: true` keeps the earliest value instead of the latest.
 */
export function lwwPatch<F extends Record<string, unknown>>(
  timelines: Timelines | undefined,
  t: string,
  fields: F,
  { first = false }: { first?: boolean } = {},
): { patch: Partial<F>; timelines: Timelines } {
  const next: Timelines = { ...(timelines ?? {}) };
  const patch: Partial<F> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const set = next[name];
    const wins = set === undefined || (first ? t < set : t > set);
    if (wins) {
      (patch as Record<string, unknown>)[name] = value;
      next[name] = t;
    }
  }
  return { patch, timelines: next };
}

/** The timelines a new row starts with: `t` for every defined field. */
export function initialTimelines(
  t: string,
  fields: Record<string, unknown>,
): Timelines {
  const out: Timelines = {};
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) out[name] = t;
  }
  return out;
}
