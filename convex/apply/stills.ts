// Stills: `still_marker` (a `still` director event and its productionStills
// row, upload pending) and `still_uploaded` (the upload callback).
import type { MutationCtx } from "../_generated/server";
import { defined } from "../defined";
import { isRejected, reject, type EventOf, type Outcome } from "../outcome";
import { checkNonNegative } from "../rules/checks";
import { cameraInSession, liveSession } from "../rules/lookups";
import { insertDirectorEvent } from "./director";

export async function stillMarker(
  ctx: MutationCtx,
  event: EventOf<"still_marker">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({
    capturedAt: event.capturedAt,
    width: event.width,
    height: event.height,
    byteSize: event.byteSize,
  });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const camera = await cameraInSession(ctx, event.sessionKey, event.cameraKey);
  if (isRejected(camera)) return camera;
  const existing = await ctx.db
    .query("productionStills")
    .withIndex("by_stillId", (q) => q.eq("stillId", event.stillId))
    .first();
  if (existing !== null) {
    return reject(
      "still_exists",
      `still ${event.stillId} already exists (session ${existing.sessionKey}, marker event ${existing.markerEventId})`,
    );
  }

  const { id: directorEventId, sequence } = await insertDirectorEvent(
    ctx,
    session,
    event,
    now,
    { type: "still", cameraKey: event.cameraKey, stillId: event.stillId },
    { counts: { ...session.counts, stills: session.counts.stills + 1 } },
  );
  const stillRowId = await ctx.db.insert("productionStills", {
    stillId: event.stillId,
    sessionKey: event.sessionKey,
    cameraKey: event.cameraKey,
    deviceId: camera.deviceId,
    capturedAt: event.capturedAt,
    ...defined({
      width: event.width,
      height: event.height,
      byteSize: event.byteSize,
      contentType: event.contentType,
      sha256: event.sha256,
      storageRef: event.storageRef,
    }),
    directorEventId,
    markerEventId: event.eventId,
    uploadStatus: "pending",
    createdAt: now,
    updatedAt: now,
  });
  await ctx.db.patch(directorEventId, { stillRowId });
  return {
    verdict: "applied",
    sequence,
    ledgerIds: {
      productionDirectorEvents: directorEventId,
      productionStills: stillRowId,
    },
  };
}

export async function stillUploaded(
  ctx: MutationCtx,
  event: EventOf<"still_uploaded">,
  now: number,
): Promise<Outcome> {
  const bad = checkNonNegative({ byteSize: event.byteSize });
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;
  const still = await ctx.db
    .query("productionStills")
    .withIndex("by_stillId", (q) => q.eq("stillId", event.stillId))
    .first();
  if (still === null || still.sessionKey !== event.sessionKey) {
    return reject(
      "still_not_found",
      `no still ${event.stillId} in session ${event.sessionKey}`,
    );
  }
  await ctx.db.patch(still._id, {
    storageRef: event.storageRef,
    ...defined({
      byteSize: event.byteSize,
      contentType: event.contentType,
      sha256: event.sha256,
      url: event.url,
    }),
    uploadStatus: "uploaded",
    uploadedAt: event.at,
    uploadedReceivedAt: event.receivedAt,
    uploadEventId: event.eventId,
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionStills: still._id } };
}
