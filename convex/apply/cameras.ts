// Cameras and their placements: `join_session` (a new camera, or an update
// when the same device re-joins under the same key) and `update_placement`.
// Every placement given becomes a new version in productionCameraPlacements.
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import { defined } from "../defined";
import { isRejected, reject, type EventOf, type Outcome } from "../outcome";
import { checkPlacement } from "../rules/checks";
import { getCamera, getDevice, liveSession } from "../rules/lookups";
import type { Placement, WireEvent } from "../wire";
import { touchDevice } from "./devices";

async function insertPlacement(
  ctx: MutationCtx,
  camera: { sessionKey: string; cameraKey: string; deviceId: string },
  version: number,
  placement: Placement,
  event: WireEvent,
  now: number,
) {
  return ctx.db.insert("productionCameraPlacements", {
    sessionKey: camera.sessionKey,
    cameraKey: camera.cameraKey,
    deviceId: camera.deviceId,
    version,
    placement,
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: now,
    eventId: event.eventId,
  });
}

export async function joinSession(
  ctx: MutationCtx,
  event: EventOf<"join_session">,
  now: number,
): Promise<Outcome> {
  if (event.placement !== undefined) {
    const bad = checkPlacement(event.placement);
    if (bad) return bad;
  }
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const device = await getDevice(ctx, event.deviceId);
  if (device === null) {
    return reject(
      "device_not_found",
      `device ${event.deviceId} is not registered`,
    );
  }

  const liveElsewhere = (
    await ctx.db
      .query("productionCameras")
      .withIndex("by_device_live", (q) =>
        q.eq("deviceId", event.deviceId).eq("live", true),
      )
      .take(10)
  ).find((c) => c.sessionKey !== event.sessionKey);
  if (liveElsewhere !== undefined) {
    return reject(
      "device_in_other_session",
      `device ${event.deviceId} is camera ${liveElsewhere.cameraKey} of live session ${liveElsewhere.sessionKey}`,
    );
  }

  const byKey = await getCamera(ctx, event.sessionKey, event.cameraKey);
  if (byKey !== null && byKey.deviceId !== event.deviceId) {
    return reject(
      "camera_key_taken",
      `camera ${event.cameraKey} of session ${event.sessionKey} is held by device ${byKey.deviceId}`,
    );
  }
  if (byKey === null) {
    const byDevice = await ctx.db
      .query("productionCameras")
      .withIndex("by_session_device", (q) =>
        q.eq("sessionKey", event.sessionKey).eq("deviceId", event.deviceId),
      )
      .first();
    if (byDevice !== null) {
      return reject(
        "device_already_in_session",
        `device ${event.deviceId} already is camera ${byDevice.cameraKey} of session ${event.sessionKey}`,
      );
    }
  }

  await touchDevice(ctx, device, event.receivedAt);
  const ledgerIds: Record<string, string> = {};

  if (byKey === null) {
    const version = event.placement !== undefined ? 1 : 0;
    const cameraId = await ctx.db.insert("productionCameras", {
      sessionKey: event.sessionKey,
      cameraKey: event.cameraKey,
      deviceId: event.deviceId,
      role: event.role,
      live: true,
      ...defined({ placement: event.placement }),
      placementVersion: version,
      ...defined({ clockOffsetMs: event.clockOffsetMs }),
      joinedAt: event.at,
      joinedReceivedAt: event.receivedAt,
      joinEventId: event.eventId,
      updatedAt: now,
      lastEventId: event.eventId,
    });
    ledgerIds.productionCameras = cameraId;
    if (event.placement !== undefined) {
      ledgerIds.productionCameraPlacements = await insertPlacement(
        ctx,
        event,
        version,
        event.placement,
        event,
        now,
      );
    }
    await ctx.db.patch(session._id, {
      counts: { ...session.counts, cameras: session.counts.cameras + 1 },
      updatedAt: now,
    });
    return { verdict: "applied", ledgerIds };
  }

  // Re-join of the same camera by the same device: an update.
  ledgerIds.productionCameras = byKey._id;
  const patch: Partial<Doc<"productionCameras">> = {
    role: event.role,
    updatedAt: now,
    lastEventId: event.eventId,
    ...defined({ clockOffsetMs: event.clockOffsetMs }),
  };
  if (event.placement !== undefined) {
    const version = byKey.placementVersion + 1;
    ledgerIds.productionCameraPlacements = await insertPlacement(
      ctx,
      byKey,
      version,
      event.placement,
      event,
      now,
    );
    patch.placement = event.placement;
    patch.placementVersion = version;
  }
  await ctx.db.patch(byKey._id, patch);
  return { verdict: "applied", ledgerIds };
}

export async function updatePlacement(
  ctx: MutationCtx,
  event: EventOf<"update_placement">,
  now: number,
): Promise<Outcome> {
  const bad = checkPlacement(event.placement);
  if (bad) return bad;
  const session = await liveSession(ctx, event.sessionKey);
  if (isRejected(session)) return session;

  const camera = await ctx.db
    .query("productionCameras")
    .withIndex("by_session_device", (q) =>
      q.eq("sessionKey", event.sessionKey).eq("deviceId", event.deviceId),
    )
    .first();
  if (camera === null) {
    return reject(
      "camera_not_in_session",
      `device ${event.deviceId} holds no camera in session ${event.sessionKey}`,
    );
  }

  const device = await getDevice(ctx, event.deviceId);
  if (device !== null) await touchDevice(ctx, device, event.receivedAt);

  const version = camera.placementVersion + 1;
  const placementId = await insertPlacement(
    ctx,
    camera,
    version,
    event.placement,
    event,
    now,
  );
  await ctx.db.patch(camera._id, {
    placement: event.placement,
    placementVersion: version,
    ...defined({ clockOffsetMs: event.clockOffsetMs }),
    updatedAt: now,
    lastEventId: event.eventId,
  });
  return {
    verdict: "applied",
    ledgerIds: {
      productionCameras: camera._id,
      productionCameraPlacements: placementId,
    },
  };
}
