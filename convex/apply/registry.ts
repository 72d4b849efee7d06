// Registry repair, written by operators (migrations-notes/0005):
// `retire_device`, `reinstate_device`, `rename_device` (latest-wins fields of
// a device: `retirement`, `label`), `resolve_clash` (which device owns a
// hardware id that several claimed: closes the clash reports that
// register_device wrote, apply/devices.ts) and `replace_camera_device` (a
// device takes over a camera of a live session).
//
// None of these touches a device's `lastSeenAt`: they are the operator's
// events, not the device's.
import type { Doc } from "../_generated/dataModel";
import type { Batch } from "../batch";
import { defined } from "../defined";
import { lwwPatch } from "../lww";
import { isRefusal, reject, wait, type EventOf, type Outcome, type Rejected } from "../outcome";
import { waitsForKey } from "../receipts";
import { busyElsewhere, cameraInSession, cameraWaitKey, getDevice, isRetiredBefore, sessionFor } from "../rules/lookups";
import { timelineKey } from "../timeline";
import type { WireEvent } from "../wire";

type Device = Doc<"productionDevices">;
type Latest = Partial<Pick<Device, "label" | "retirement" | "hardwareId">>;

/** The device, or `device_not_found` at once (a repair never waits). */
async function registered(batch: Batch, deviceId: string): Promise<Device | Rejected> {
  const device = await getDevice(batch.ctx, deviceId);
  return device ?? reject("device_not_found", `device ${deviceId} is not registered`);
}

/** The `retirement` value an event sets. */
function retirementBy(event: WireEvent, reason: string | undefined) {
  return { at: event.at, receivedAt: event.receivedAt, ...defined({ reason }), eventId: event.eventId };
}

/** Sets latest-wins fields of a device (lww.ts); `null` is a value. */
async function setLatest(batch: Batch, device: Device, t: string, fields: Latest) {
  const latest = lwwPatch(device.timelines, t, fields);
  await batch.db.patch(device._id, { ...latest.patch, timelines: latest.timelines, updatedAt: batch.now });
}

function appliedTo(device: Device): Outcome {
  return { verdict: "applied", ledgerIds: { productionDevices: device._id } };
}

export async function retireDevice(batch: Batch, event: EventOf<"retire_device">): Promise<Outcome> {
  const device = await registered(batch, event.deviceId);
  if (isRefusal(device)) return device;
  await setLatest(batch, device, timelineKey(event), { retirement: retirementBy(event, event.reason) });
  return appliedTo(device);
}

export async function reinstateDevice(batch: Batch, event: EventOf<"reinstate_device">): Promise<Outcome> {
  const device = await registered(batch, event.deviceId);
  if (isRefusal(device)) return device;
  await setLatest(batch, device, timelineKey(event), { retirement: null });
  return appliedTo(device);
}

export async function renameDevice(batch: Batch, event: EventOf<"rename_device">): Promise<Outcome> {
  const device = await registered(batch, event.deviceId);
  if (isRefusal(device)) return device;
  await setLatest(batch, device, timelineKey(event), { label: event.label });
  return appliedTo(device);
}

export async function resolveClash(batch: Batch, event: EventOf<"resolve_clash">): Promise<Outcome> {
  const { hardwareId, ownerDeviceId: owner } = event;
  const reports = await batch.db
    .query("productionDeviceClashes")
    .withIndex("by_hardwareId_open", (q) => q.eq("hardwareId", hardwareId).eq("open", true))
    .collect();
  if (reports.length === 0) {
    return reject("clash_not_found", `no open clash report of hardware id ${hardwareId}`);
  }
  const holders = new Set(reports.map((r) => r.holderDeviceId));
  const parties = new Set(reports.flatMap((r) => [r.holderDeviceId, r.claimantDeviceId]));
  if (!parties.has(owner)) {
    return reject("device_not_in_clash", `device ${owner} is no party to the clash of hardware id ${hardwareId}`);
  }

  const t = timelineKey(event);
  for (const r of reports) {
    await batch.db.patch(r._id, { open: false, resolvedBy: event.eventId, ownerDeviceId: owner });
  }
  const ledgerIds: Record<string, string> = { productionDeviceClashes: reports[0]._id };
  const retirement = retirementBy(event, `hardware id ${hardwareId} belongs to ${owner}`);
  for (const id of parties) {
    const row = await getDevice(batch.ctx, id);
    if (row === null) continue; // not registered (a claimant): it registers again
    let timelines = row.timelines;
    const patch: Partial<Device> = {};
    if (id !== owner && holders.has(id) && row.hardwareId === hardwareId && !holders.has(owner)) {
      // The holder loses it, at this event's timeline: an older registration
      // delivered later does not put it back.
      patch.hardwareId = undefined;
      timelines = { ...timelines, hardwareId: t };
    }
    if (id === owner && !holders.has(owner)) {
      const got = lwwPatch(timelines, t, { hardwareId });
      Object.assign(patch, got.patch);
      timelines = got.timelines;
      ledgerIds.productionDevices = row._id;
    }
    if (id !== owner && event.retireOthers) {
      const got = lwwPatch(timelines, t, { retirement });
      Object.assign(patch, got.patch);
      timelines = got.timelines;
    }
    if (Object.keys(patch).length > 0) {
      await batch.db.patch(row._id, { ...patch, timelines, updatedAt: batch.now });
    }
  }
  return { verdict: "applied", ledgerIds };
}

export async function replaceCameraDevice(
  batch: Batch,
  event: EventOf<"replace_camera_device">,
): Promise<Outcome> {
  const { sessionKey, cameraKey, deviceId } = event;
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  if (session.status === "completed") {
    return reject("session_completed", `session ${sessionKey} is completed; it takes no more writes`);
  }
  const camera = await cameraInSession(batch, sessionKey, cameraKey);
  if (isRefusal(camera)) return camera;
  const device = await getDevice(batch.ctx, deviceId);
  if (device === null) {
    return wait("device", deviceId, "device_not_found", `device ${deviceId} is not registered`);
  }
  const t = timelineKey(event);
  if (isRetiredBefore(device, t)) {
    return reject("device_retired", `device ${deviceId} is retired (by event ${device.retirement!.eventId})`);
  }
  const held = camera.deviceId === deviceId ? camera : await batch.cameraOfDevice(sessionKey, deviceId);
  if (held !== null) {
    return reject(
      "device_already_in_session",
      `device ${deviceId} already is camera ${held.cameraKey} of session ${sessionKey}`,
    );
  }
  const elsewhere = await busyElsewhere(batch, deviceId, sessionKey, t);
  if (elsewhere !== undefined) {
    return wait(
      "device_free",
      deviceId,
      "device_in_other_session",
      `device ${deviceId} is camera ${elsewhere.cameraKey} of live session ${elsewhere.sessionKey}`,
    );
  }

  const old = camera.deviceId;
  const entry = {
    deviceId: old,
    byDeviceId: deviceId,
    at: event.at,
    receivedAt: event.receivedAt,
    eventId: event.eventId,
    ...defined({ reason: event.reason }),
  };
  // `timelines.deviceId`: since when this device holds the camera (the
  // busy check of joins and replacements, lookups.ts).
  await batch.patchCamera(camera, {
    deviceId,
    replaced: [...(camera.replaced ?? []), entry],
    timelines: { ...camera.timelines, deviceId: t },
    updatedAt: batch.now,
  });
  return {
    verdict: "applied",
    ledgerIds: { productionCameras: camera._id },
    wakes: [
      waitsForKey("member", cameraWaitKey(sessionKey, deviceId)),
      waitsForKey("device_free", old),
    ],
  };
}
