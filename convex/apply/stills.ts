// Stills: `still_marker` (a `still` director event and its productionStills
// row, upload pending) and `still_uploaded` (the upload callback, which
// waits for its marker if it comes first). What uploads say of the file is
// the latest upload's in timeline order, field by field (lww.ts).
import type { Batch } from "../batch";
import { defined } from "../defined";
import { lwwPatch } from "../lww";
import { isRefusal, reject, wait, type EventOf, type Outcome } from "../outcome";
import { waitsForKey } from "../receipts";
import { checkNonNegative } from "../rules/checks";
import { cameraInSession, getStill, sessionFor } from "../rules/lookups";
import { timelineKey } from "../timeline";
import { insertDirectorEvent } from "./director";

export async function stillMarker(batch: Batch, event: EventOf<"still_marker">): Promise<Outcome> {
  const bad = checkNonNegative({
    capturedAt: event.capturedAt,
    width: event.width,
    height: event.height,
    byteSize: event.byteSize,
  });
  if (bad) return bad;
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  const camera = await cameraInSession(batch, event.sessionKey, event.cameraKey);
  if (isRefusal(camera)) return camera;
  const existing = await getStill(batch.ctx, event.stillId);
  if (existing !== null) {
    return reject(
      "still_exists",
      `still ${event.stillId} already exists (session ${existing.sessionKey}, marker event ${existing.markerEventId})`,
    );
  }

  const directorEventId = await insertDirectorEvent(
    batch,
    event,
    { type: "still", cameraKey: event.cameraKey, stillId: event.stillId },
    { stills: 1 },
  );
  const stillRowId = await batch.db.insert("productionStills", {
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
    createdAt: batch.now,
    updatedAt: batch.now,
    timeline: timelineKey(event),
    timelines: {},
  });
  await batch.db.patch(directorEventId, { stillRowId });
  return {
    verdict: "applied",
    ledgerIds: { productionDirectorEvents: directorEventId, productionStills: stillRowId },
    wakes: [waitsForKey("still", event.stillId)],
  };
}

export async function stillUploaded(batch: Batch, event: EventOf<"still_uploaded">): Promise<Outcome> {
  const bad = checkNonNegative({ byteSize: event.byteSize });
  if (bad) return bad;
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  const still = await getStill(batch.ctx, event.stillId);
  if (still === null) {
    return wait("still", event.stillId, "still_not_found", `no still ${event.stillId} in session ${event.sessionKey}`);
  }
  if (still.sessionKey !== event.sessionKey) {
    return reject("still_not_found", `no still ${event.stillId} in session ${event.sessionKey}`);
  }
  const t = timelineKey(event);
  const upload = lwwPatch(still.timelines, t, {
    storageRef: event.storageRef,
    byteSize: event.byteSize,
    contentType: event.contentType,
    sha256: event.sha256,
    url: event.url,
    uploadedAt: event.at,
    uploadedReceivedAt: event.receivedAt,
    uploadEventId: event.eventId,
  });
  await batch.db.patch(still._id, {
    ...upload.patch,
    timelines: upload.timelines,
    uploadStatus: "uploaded",
    updatedAt: batch.now,
  });
  return { verdict: "applied", ledgerIds: { productionStills: still._id } };
}
