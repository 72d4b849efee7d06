// Session lifecycle: `start_shoot` and `complete_session` (which also closes
// the session's open holds, takes its cameras off live, rejects the waiting
// events that come after it, and — through the batch's flush — writes the
// summary).
import type { Batch } from "../batch";
import { defined } from "../defined";
import { initialTimelines, lwwPatch } from "../lww";
import { isRefusal, reject, type EventOf, type Outcome } from "../outcome";
import { isAfterCompletion, sessionFor } from "../rules/lookups";
import { timelineKey } from "../timeline";
import { rejectWaiting, waitsForKey } from "../receipts";

export async function startShoot(
  batch: Batch,
  event: EventOf<"start_shoot">,
): Promise<Outcome> {
  const t = timelineKey(event);
  const latest = { title: event.title, notes: event.notes, location: event.location };
  const earliest = {
    startedAt: event.at,
    startedReceivedAt: event.receivedAt,
    startEventId: event.eventId,
  };
  const session = await batch.session(event.sessionKey);
  if (session === null) {
    const id = await batch.insertSession({
      sessionKey: event.sessionKey,
      kind: "photoshoot_performance",
      status: "live",
      title: event.title,
      ...defined({ notes: event.notes, location: event.location }),
      ...earliest,
      updatedAt: batch.now,
      counts: { cameras: 0, cuts: 0, holds: 0, stills: 0, cues: 0, events: 0, holdsClosedOnComplete: 0 },
      timelines: {
        ...initialTimelines(t, latest),
        ...initialTimelines(t, { started: true }),
      },
    });
    return {
      verdict: "applied",
      ledgerIds: { productionSessions: id },
      wakes: [waitsForKey("session", event.sessionKey)],
    };
  }
  if (isAfterCompletion(session, t)) {
    return reject(
      "session_completed",
      `session ${event.sessionKey} is completed; it cannot be started again`,
    );
  }
  const last = lwwPatch(session.timelines, t, latest);
  const first = lwwPatch(last.timelines, t, { started: true }, { first: true });
  batch.setSession(session, {
    ...last.patch,
    ...("started" in first.patch ? earliest : {}),
    timelines: first.timelines,
  });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id } };
}

export async function completeSession(
  batch: Batch,
  event: EventOf<"complete_session">,
): Promise<Outcome> {
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  if (session.status === "completed") {
    // A second completion, earlier in the timeline than the first one the
    // ledger applied: a conflicting claim, judged as it arrives.
    return reject(
      "session_completed",
      `session ${event.sessionKey} is already completed (by event ${session.completeEventId})`,
    );
  }
  const t = timelineKey(event);
  const { db } = batch;

  const open = await db
    .query("productionDirectorEvents")
    .withIndex("by_session_holdOpen", (q) =>
      q.eq("sessionKey", session.sessionKey).eq("holdOpen", true),
    )
    .collect();
  let closed = 0;
  for (const hold of open) {
    if (hold.timeline > t) continue;
    closed += 1;
    await db.patch(hold._id, {
      holdOpen: false,
      holdClosedAt: event.at,
      holdClosedBy: "complete_session",
      holdCloseEventId: event.eventId,
    });
  }

  const cameras = await db
    .query("productionCameras")
    .withIndex("by_session_camera", (q) => q.eq("sessionKey", session.sessionKey))
    .collect();
  const wakes: string[] = [];
  for (const camera of cameras) {
    if (camera.live) {
      await batch.patchCamera(camera, { live: false });
      wakes.push(waitsForKey("device_free", camera.deviceId));
    }
  }

  batch.setSession(session, {
    status: "completed",
    completedAt: event.at,
    completedReceivedAt: event.receivedAt,
    completeEventId: event.eventId,
    completedTimeline: t,
    completedAppliedAt: batch.now,
    counts: {
      ...session.counts,
      holdsClosedOnComplete: session.counts.holdsClosedOnComplete + closed,
    },
  });
  // Waiting events after the completion will never be applied.
  await rejectWaiting(batch, session.sessionKey, { after: t });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id }, wakes };
}
