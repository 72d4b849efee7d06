// Session lifecycle: `start_shoot` and `complete_session` (which also closes
// the session's open holds, takes its cameras off live and writes its summary).
import type { MutationCtx } from "../_generated/server";
import { defined } from "../defined";
import { isRejected, reject, type EventOf, type Outcome } from "../outcome";
import { getSession, liveSession } from "../rules/lookups";

export async function startShoot(
  ctx: MutationCtx,
  event: EventOf<"start_shoot">,
  now: number,
): Promise<Outcome> {
  const session = await getSession(ctx, event.sessionKey);
  if (session === null) {
    const id = await ctx.db.insert("productionSessions", {
      sessionKey: event.sessionKey,
      kind: "photoshoot_performance",
      status: "live",
      title: event.title,
      ...defined({ notes: event.notes, location: event.location }),
      startedAt: event.at,
      startedReceivedAt: event.receivedAt,
      startEventId: event.eventId,
      updatedAt: now,
      lastSequence: 0,
      counts: { cameras: 0, cuts: 0, holds: 0, stills: 0, cues: 0 },
    });
    return { verdict: "applied", ledgerIds: { productionSessions: id } };
  }
  if (session.status === "completed") {
    return reject(
      "session_completed",
      `session ${event.sessionKey} is completed; it cannot be started again`,
    );
  }
  await ctx.db.patch(session._id, {
    title: event.title,
    ...defined({ notes: event.notes, location: event.location }),
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id } };
}

export async function completeSession(
  ctx: MutationCtx,
  event: EventOf<"complete_session">,
  now: number,
): Promise<Outcome> {
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const open = await ctx.db
    .query("productionDirectorEvents")
    .withIndex("by_session_holdOpen", (q) =>
      q.eq("sessionKey", session.sessionKey).eq("holdOpen", true),
    )
    .collect();
  for (const hold of open) {
    await ctx.db.patch(hold._id, {
      holdOpen: false,
      holdClosedAt: event.at,
      holdClosedBy: "complete_session",
      holdCloseEventId: event.eventId,
    });
  }

  const cameras = await ctx.db
    .query("productionCameras")
    .withIndex("by_session_camera", (q) =>
      q.eq("sessionKey", session.sessionKey),
    )
    .collect();
  for (const camera of cameras) {
    if (camera.live) await ctx.db.patch(camera._id, { live: false });
  }

  await ctx.db.patch(session._id, {
    status: "completed",
    completedAt: event.at,
    completedReceivedAt: event.receivedAt,
    completeEventId: event.eventId,
    updatedAt: now,
    summary: {
      durationMs: Math.max(0, event.at - session.startedAt),
      cameras: session.counts.cameras,
      cuts: session.counts.cuts,
      holds: session.counts.holds,
      stills: session.counts.stills,
      cues: session.counts.cues,
      events: session.lastSequence,
      holdsClosedOnComplete: open.length,
    },
  });
  return { verdict: "applied", ledgerIds: { productionSessions: session._id } };
}
