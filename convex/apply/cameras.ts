// Cameras and their placements: `join_session` (a new camera, or an update
// when the same device re-joins under the same key) and `update_placement`.
// Every placement given becomes a version in productionCameraPlacements;
// versions are ranks in timeline order, so a placement that arrives late
// renumbers those after it. Role, clock offset and the latest placement are
// the latest event's in timeline order (lww.ts).
import type { Doc } from "../_generated/dataModel";
import type { Batch } from "../batch";
import { defined } from "../defined";
import { initialTimelines, lwwPatch } from "../lww";
import { isRefusal, reject, wait, type EventOf, type Outcome } from "../outcome";
import { waitsForKey } from "../receipts";
import { checkPlacement } from "../rules/checks";
import { busyElsewhere, cameraWaitKey, getDevice, isRetiredBefore, sessionFor } from "../rules/lookups";
import { timelineKey } from "../timeline";
import type { Placement, WireEvent } from "../wire";
import { touchDevice } from "./devices";

type Camera = Doc<"productionCameras">;

/** Inserts a placement version; answers its id and the camera's patch. */
async function insertPlacement(
  batch: Batch,
  camera: Camera,
  placement: Placement,
  event: WireEvent,
) {
  const t = timelineKey(event);
  const later = await batch.db
    .query("productionCameraPlacements")
    .withIndex("by_camera_timeline", (q) =>
      q.eq("sessionKey", camera.sessionKey).eq("cameraKey", camera.cameraKey).gt("timeline", t),
    )
    .collect();
  for (const p of later) await batch.db.patch(p._id, { version: p.version + 1 });
  const id = await batch.db.insert("productionCameraPlacements", {
    sessionKey: camera.sessionKey,
    cameraKey: camera.cameraKey,
    deviceId: camera.deviceId,
    version: camera.placementVersion - later.length + 1,
    placement,
    ...defined({ clockOffsetMs: "clockOffsetMs" in event ? event.clockOffsetMs : undefined }),
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt: batch.now,
    eventId: event.eventId,
    timeline: t,
  });
  return { id, count: camera.placementVersion + 1 };
}

/** The camera's fields an event sets: latest-wins, and the placement. */
async function updateCamera(
  batch: Batch,
  camera: Camera,
  event: WireEvent,
  fields: Partial<Pick<Camera, "role" | "clockOffsetMs">>,
  placement: Placement | undefined,
) {
  const t = timelineKey(event);
  const ledgerIds: Record<string, string> = { productionCameras: camera._id };
  const latest = lwwPatch(camera.timelines, t, { ...fields, placement, lastEventId: event.eventId });
  const patch: Partial<Camera> = { ...latest.patch, timelines: latest.timelines, updatedAt: batch.now };
  if (placement !== undefined) {
    const inserted = await insertPlacement(batch, camera, placement, event);
    ledgerIds.productionCameraPlacements = inserted.id;
    patch.placementVersion = inserted.count;
  }
  await batch.patchCamera(camera, patch);
  return ledgerIds;
}

export async function joinSession(batch: Batch, event: EventOf<"join_session">): Promise<Outcome> {
  if (event.placement !== undefined) {
    const bad = checkPlacement(event.placement);
    if (bad) return bad;
  }
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;

  const device = await getDevice(batch.ctx, event.deviceId);
  if (device === null) {
    return wait("device", event.deviceId, "device_not_found", `device ${event.deviceId} is not registered`);
  }

  const completed = session.status === "completed";
  const t = timelineKey(event);
  if (isRetiredBefore(device, t)) {
    return reject("device_retired", `device ${event.deviceId} is retired (by event ${device.retirement!.eventId})`);
  }
  if (!completed) {
    // The device is busy if it holds a camera of another session, still
    // live, since earlier in the timeline (lookups.ts, busyElsewhere).
    const liveElsewhere = await busyElsewhere(batch, event.deviceId, event.sessionKey, t);
    if (liveElsewhere !== undefined) {
      return wait(
        "device_free",
        event.deviceId,
        "device_in_other_session",
        `device ${event.deviceId} is camera ${liveElsewhere.cameraKey} of live session ${liveElsewhere.sessionKey}`,
      );
    }
  }

  const byKey = await batch.camera(event.sessionKey, event.cameraKey);
  if (byKey !== null && byKey.deviceId !== event.deviceId) {
    return reject(
      "camera_key_taken",
      `camera ${event.cameraKey} of session ${event.sessionKey} is held by device ${byKey.deviceId}`,
    );
  }
  if (byKey === null) {
    const byDevice = await batch.cameraOfDevice(event.sessionKey, event.deviceId);
    if (byDevice !== null) {
      return reject(
        "device_already_in_session",
        `device ${event.deviceId} already is camera ${byDevice.cameraKey} of session ${event.sessionKey}`,
      );
    }
  }

  await touchDevice(batch, device, event.receivedAt);
  const joined = { joinedAt: event.at, joinedReceivedAt: event.receivedAt, joinEventId: event.eventId };

  if (byKey === null) {
    const latest = {
      role: event.role,
      clockOffsetMs: event.clockOffsetMs,
      lastEventId: event.eventId,
    };
    const camera: Omit<Camera, "_id" | "_creationTime"> = {
      sessionKey: event.sessionKey,
      cameraKey: event.cameraKey,
      deviceId: event.deviceId,
      live: !completed,
      placementVersion: 0,
      ...defined(latest),
      role: event.role,
      lastEventId: event.eventId,
      ...joined,
      updatedAt: batch.now,
      timelines: { ...initialTimelines(t, latest), joined: t },
    };
    const id = await batch.insertCamera(camera);
    let ledgerIds: Record<string, string> = { productionCameras: id };
    if (event.placement !== undefined) {
      const row = (await batch.camera(event.sessionKey, event.cameraKey))!;
      ledgerIds = await updateCamera(batch, row, event, {}, event.placement);
    }
    await batch.count(event.sessionKey, { cameras: 1 });
    return {
      verdict: "applied",
      ledgerIds,
      wakes: [
        waitsForKey("camera", cameraWaitKey(event.sessionKey, event.cameraKey)),
        waitsForKey("member", cameraWaitKey(event.sessionKey, event.deviceId)),
      ],
    };
  }

  // Re-join of the same camera by the same device: an update. The join
  // that is earliest in the timeline is the camera's join.
  const first = lwwPatch(byKey.timelines, t, { joined: true }, { first: true });
  const camera =
    "joined" in first.patch ? await batch.patchCamera(byKey, { ...joined, timelines: first.timelines }) : byKey;
  const ledgerIds = await updateCamera(
    batch,
    camera,
    event,
    { role: event.role, clockOffsetMs: event.clockOffsetMs },
    event.placement,
  );
  return { verdict: "applied", ledgerIds };
}

export async function updatePlacement(batch: Batch, event: EventOf<"update_placement">): Promise<Outcome> {
  const bad = checkPlacement(event.placement);
  if (bad) return bad;
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;

  const camera = await batch.cameraOfDevice(event.sessionKey, event.deviceId);
  if (camera === null) {
    return wait(
      "member",
      cameraWaitKey(event.sessionKey, event.deviceId),
      "camera_not_in_session",
      `device ${event.deviceId} holds no camera in session ${event.sessionKey}`,
    );
  }
  const device = await getDevice(batch.ctx, event.deviceId);
  if (device !== null) await touchDevice(batch, device, event.receivedAt);
  const ledgerIds = await updateCamera(batch, camera, event, { clockOffsetMs: event.clockOffsetMs }, event.placement);
  return { verdict: "applied", ledgerIds };
}
