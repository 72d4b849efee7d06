// The device registry: `register_device`, and the `lastSeenAt` bump that
// joins and placement updates give a device.
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import { defined } from "../defined";
import { reject, type EventOf, type Outcome } from "../outcome";
import { getDevice } from "../rules/lookups";

export async function registerDevice(
  ctx: MutationCtx,
  event: EventOf<"register_device">,
  now: number,
): Promise<Outcome> {
  const hardwareId = event.hardwareId;
  if (hardwareId !== undefined) {
    const holders = await ctx.db
      .query("productionDevices")
      .withIndex("by_hardwareId", (q) => q.eq("hardwareId", hardwareId))
      .take(10);
    const other = holders.find((d) => d.deviceId !== event.deviceId);
    if (other !== undefined) {
      return reject(
        "hardware_id_conflict",
        `hardwareId ${hardwareId} is registered to device ${other.deviceId}, not ${event.deviceId}`,
      );
    }
  }

  const optional = defined({
    model: event.model,
    appVersion: event.appVersion,
    hardwareId,
  });
  const existing = await getDevice(ctx, event.deviceId);
  if (existing === null) {
    const id = await ctx.db.insert("productionDevices", {
      deviceId: event.deviceId,
      name: event.name,
      platform: event.platform,
      ...optional,
      firstSeenAt: event.receivedAt,
      lastSeenAt: event.receivedAt,
      lastRegisteredAt: event.at,
      registerEventId: event.eventId,
      lastEventId: event.eventId,
      updatedAt: now,
    });
    return { verdict: "applied", ledgerIds: { productionDevices: id } };
  }
  await ctx.db.patch(existing._id, {
    name: event.name,
    platform: event.platform,
    ...optional,
    lastSeenAt: Math.max(existing.lastSeenAt, event.receivedAt),
    lastRegisteredAt: event.at,
    lastEventId: event.eventId,
    updatedAt: now,
  });
  return { verdict: "applied", ledgerIds: { productionDevices: existing._id } };
}

/** Bump a device's lastSeenAt (service clock), never moving it backwards. */
export async function touchDevice(
  ctx: MutationCtx,
  device: Doc<"productionDevices">,
  receivedAt: number,
) {
  if (receivedAt > device.lastSeenAt) {
    await ctx.db.patch(device._id, { lastSeenAt: receivedAt });
  }
}
