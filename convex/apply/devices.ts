// The device registry: `register_device`, and the `lastSeenAt` bump that
// joins and placement updates give a device. What a registration says of a
// device (name, platform, model, app version, hardware id) is the latest
// registration's in timeline order, field by field (lww.ts); first/last
// seen are the min/max of the service's clock. A registration never changes
// what operators set (`label`, `retirement`: apply/registry.ts). One whose
// hardware id another device holds is refused and writes a clash report.
import type { Doc } from "../_generated/dataModel";
import type { Batch } from "../batch";
import { initialTimelines, lwwPatch } from "../lww";
import { reject, type EventOf, type Outcome } from "../outcome";
import { waitsForKey } from "../receipts";
import { getDevice } from "../rules/lookups";
import { timelineKey } from "../timeline";

export async function registerDevice(batch: Batch, event: EventOf<"register_device">): Promise<Outcome> {
  const hardwareId = event.hardwareId;
  if (hardwareId !== undefined) {
    const holders = await batch.db
      .query("productionDevices")
      .withIndex("by_hardwareId", (q) => q.eq("hardwareId", hardwareId))
      .take(10);
    const other = holders.find((d) => d.deviceId !== event.deviceId);
    if (other !== undefined) {
      // Refused, and reported for an operator to resolve (migrations-notes/
      // 0005): the one write a refused event makes besides its receipt.
      await batch.db.insert("productionDeviceClashes", {
        hardwareId,
        holderDeviceId: other.deviceId,
        claimantDeviceId: event.deviceId,
        eventId: event.eventId,
        at: event.at,
        receivedAt: event.receivedAt,
        timeline: timelineKey(event),
        name: event.name,
        platform: event.platform,
        open: true,
      });
      return reject(
        "hardware_id_conflict",
        `hardwareId ${hardwareId} is registered to device ${other.deviceId}, not ${event.deviceId}`,
      );
    }
  }

  const t = timelineKey(event);
  const latest = {
    name: event.name,
    platform: event.platform,
    model: event.model,
    appVersion: event.appVersion,
    hardwareId,
    lastRegisteredAt: event.at,
    lastEventId: event.eventId,
  };
  const existing = await getDevice(batch.ctx, event.deviceId);
  if (existing === null) {
    const fields = Object.fromEntries(Object.entries(latest).filter(([, x]) => x !== undefined));
    const id = await batch.db.insert("productionDevices", {
      deviceId: event.deviceId,
      ...(fields as typeof latest & { name: string }),
      firstSeenAt: event.receivedAt,
      lastSeenAt: event.receivedAt,
      registerEventId: event.eventId,
      updatedAt: batch.now,
      timelines: { ...initialTimelines(t, latest), registered: t },
    });
    return {
      verdict: "applied",
      ledgerIds: { productionDevices: id },
      wakes: [waitsForKey("device", event.deviceId)],
    };
  }
  const last = lwwPatch(existing.timelines, t, latest);
  const first = lwwPatch(last.timelines, t, { registered: true }, { first: true });
  await batch.db.patch(existing._id, {
    ...last.patch,
    ...("registered" in first.patch ? { registerEventId: event.eventId } : {}),
    timelines: first.timelines,
    firstSeenAt: Math.min(existing.firstSeenAt, event.receivedAt),
    lastSeenAt: Math.max(existing.lastSeenAt, event.receivedAt),
    updatedAt: batch.now,
  });
  return { verdict: "applied", ledgerIds: { productionDevices: existing._id } };
}

/** Bump a device's lastSeenAt (service clock), never moving it backwards. */
export async function touchDevice(batch: Batch, device: Doc<"productionDevices">, receivedAt: number) {
  if (receivedAt > device.lastSeenAt) {
    await batch.db.patch(device._id, { lastSeenAt: receivedAt });
  }
}
