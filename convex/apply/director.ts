// Director events: `cut`, `cue`, `marker`, `note` (holds: holds.ts), and,
// through insertDirectorEvent, the `still` director event of a still_marker.
// Each is a row of the session's timeline, at the event's timeline key.
import type { Doc, Id } from "../_generated/dataModel";
import type { Batch } from "../batch";
import { defined } from "../defined";
import { isRefusal, type EventOf, type Outcome } from "../outcome";
import { checkNonNegative } from "../rules/checks";
import { cameraInSession, sessionFor } from "../rules/lookups";
import { timelineKey } from "../timeline";
import type { WireEvent } from "../wire";

/** The fields of a director event row that differ by type. */
export type DirectorFields = Omit<
  Doc<"productionDirectorEvents">,
  | "_id"
  | "_creationTime"
  | "eventId"
  | "sessionKey"
  | "timeline"
  | "at"
  | "receivedAt"
  | "appliedAt"
>;

type Counts = Doc<"productionSessions">["counts"];

/** Inserts a director event row and counts it (and `counts`) in its session. */
export async function insertDirectorEvent(
  batch: Batch,
  event: WireEvent & { sessionKey: string },
  fields: DirectorFields,
  counts: Partial<Counts> = {},
): Promise<Id<"productionDirectorEvents">> {
  const id = await batch.db.insert("productionDirectorEvents", {
    eventId: event.eventId,
    sessionKey: event.sessionKey,
    timeline: timelineKey(event),
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: batch.now,
    ...fields,
  });
  await batch.count(event.sessionKey, { ...counts, events: 1 + (counts.events ?? 0) });
  return id;
}

export function applied(id: Id<"productionDirectorEvents">): Outcome {
  return { verdict: "applied", ledgerIds: { productionDirectorEvents: id } };
}

export async function cut(batch: Batch, event: EventOf<"cut">): Promise<Outcome> {
  const bad = checkNonNegative({ transitionMs: event.transitionMs });
  if (bad) return bad;
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  const to = await cameraInSession(batch, event.sessionKey, event.cameraKey);
  if (isRefusal(to)) return to;
  if (event.fromCameraKey !== undefined) {
    const from = await cameraInSession(batch, event.sessionKey, event.fromCameraKey);
    if (isRefusal(from)) return from;
  }
  const id = await insertDirectorEvent(
    batch,
    event,
    {
      type: "cut",
      cameraKey: event.cameraKey,
      ...defined({
        fromCameraKey: event.fromCameraKey,
        transition: event.transition,
        transitionMs: event.transitionMs,
      }),
    },
    { cuts: 1 },
  );
  // The hero feed is the camera of the latest cut in timeline order.
  const t = timelineKey(event);
  const current = (await batch.session(event.sessionKey))!;
  if (current.heroTimeline === undefined || t > current.heroTimeline) {
    batch.setSession(current, { heroCameraKey: event.cameraKey, heroTimeline: t });
  }
  return applied(id);
}

/** `cue`, `marker` and `note`: no rules beyond their session. */
export async function simpleDirectorEvent(
  batch: Batch,
  event: EventOf<"cue" | "marker" | "note">,
): Promise<Outcome> {
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  switch (event.type) {
    case "cue":
      return applied(
        await insertDirectorEvent(
          batch,
          event,
          { type: "cue", cueKind: event.cueKind, label: event.label },
          { cues: 1 },
        ),
      );
    case "marker":
      return applied(await insertDirectorEvent(batch, event, { type: "marker", label: event.label }));
    case "note":
      return applied(await insertDirectorEvent(batch, event, { type: "note", text: event.text }));
  }
}
