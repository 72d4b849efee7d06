// Director events: `cut`, `hold_start`, `hold_end`, `cue`, `marker`, `note`
// (and, through insertDirectorEvent, the `still` director event of a
// still_marker). Each takes the session's next sequence number.
import type { Doc, Id } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import { defined } from "../defined";
import { isRejected, reject, type EventOf, type Outcome } from "../outcome";
import { checkNonNegative } from "../rules/checks";
import { cameraInSession, liveSession, openHold } from "../rules/lookups";
import type { WireEvent } from "../wire";

/** The fields of a director event row that differ by type. */
type DirectorFields = Omit<
  Doc<"productionDirectorEvents">,
  | "_id"
  | "_creationTime"
  | "eventId"
  | "sessionKey"
  | "sequence"
  | "at"
  | "receivedAt"
  | "appliedAt"
>;

/**
 * Insert a director event with the session's next sequence number and apply
 * `sessionPatch` in the same patch of the session row.
 */
export async function insertDirectorEvent(
  ctx: MutationCtx,
  session: Doc<"productionSessions">,
  event: WireEvent,
  now: number,
  fields: DirectorFields,
  sessionPatch: Partial<Doc<"productionSessions">> = {},
): Promise<{ id: Id<"productionDirectorEvents">; sequence: number }> {
  const sequence = session.lastSequence + 1;
  const id = await ctx.db.insert("productionDirectorEvents", {
    eventId: event.eventId,
    sessionKey: session.sessionKey,
    sequence,
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: now,
    ...fields,
  });
  await ctx.db.patch(session._id, {
    ...sessionPatch,
    lastSequence: sequence,
    updatedAt: now,
  });
  return { id, sequence };
}

/** The outcome of a director event written as `id` with `sequence`. */
function applied(
  id: Id<"productionDirectorEvents">,
  sequence: number,
): Outcome {
  return {
    verdict: "applied",
    sequence,
    ledgerIds: { productionDirectorEvents: id },
  };
}

export async function cut(
  ctx: MutationCtx,
  event: EventOf<"cut">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({ transitionMs: event.transitionMs });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const to = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(to)) return to;
  if (event.fromCameraKey !== undefined) {
    const from = await cameraInSession(
      ctx,
      event.sessionKey,
      event.fromCameraKey,
    );
    if (isRejected(from)) return from;
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    {
      type: "cut",
      cameraKey: event.cameraKey,
      ...defined({
        fromCameraKey: event.fromCameraKey,
        transition: event.transition,
        transitionMs: event.transitionMs,
      }),
    },
    {
      heroCameraKey: event.cameraKey,
      counts: { ...session.counts, cuts: session.counts.cuts + 1 },
    },
  );
  return applied(id, sequence);
}

export async function holdStart(
  ctx: MutationCtx,
  event: EventOf<"hold_start">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const camera = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(camera)) return camera;
  const open = await openHold(ctx, event.sessionKey, event.holdId);
  if (open !== null) {
    return reject(
      "hold_already_open",
      `hold ${event.holdId} is already open (started by event ${open.eventId})`,
    );
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    {
      type: "hold_start",
      cameraKey: event.cameraKey,
      holdId: event.holdId,
      holdOpen: true,
    },
    { counts: { ...session.counts, holds: session.counts.holds + 1 } },
  );
  return applied(id, sequence);
}

export async function holdEnd(
  ctx: MutationCtx,
  event: EventOf<"hold_end">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const start = await openHold(ctx, event.sessionKey, event.holdId);
  if (start === null) {
    return reject(
      "hold_not_open",
      `hold ${event.holdId} is not open in session ${event.sessionKey}`,
    );
  }
  const { id, sequence } = await insertDirectorEvent(ctx, session, event, now, {
    type: "hold_end",
    holdId: event.holdId,
    ...defined({ cameraKey: start.cameraKey }),
    holdStartEventId: start.eventId,
    holdDurationMs: Math.max(0, event.at - start.at),
  });
  await ctx.db.patch(start._id, {
    holdOpen: false,
    holdClosedAt: event.at,
    holdClosedBy: "hold_end",
    holdCloseEventId: event.eventId,
  });
  return applied(id, sequence);
}

/** `cue`, `marker` and `note`: no rules beyond a live session. */
export async function simpleDirectorEvent(
  ctx: MutationCtx,
  event: EventOf<"cue" | "marker" | "note">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  let fields: DirectorFields;
  let sessionPatch: Partial<Doc<"productionSessions">> = {};
  switch (event.type) {
    case "cue":
      fields = { type: "cue", cueKind: event.cueKind, label: event.label };
      sessionPatch = {
        counts: { ...session.counts, cues: session.counts.cues + 1 },
      };
      break;
    case "marker":
      fields = { type: "marker", label: event.label };
      break;
    case "note":
      fields = { type: "note", text: event.text };
      break;
  }
  const { id, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    fields,
    sessionPatch,
  );
  return applied(id, sequence);
}
