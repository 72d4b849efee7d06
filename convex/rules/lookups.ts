// Reads of the ledger the rules need. Those that return "the row or the
// refusal" turn a missing row into what to wait for (its code is the one the
// event gets if it never comes: migrations-notes/0003, "Waiting"), and a
// write after its session's completion into the rejection.
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import type { Batch } from "../batch";
import { reject, wait, type Refusal } from "../outcome";
import { timelineKey } from "../timeline";
import type { WireEvent } from "../wire";

/**
 * The session of an event, if it exists and the event is not after its
 * completion in timeline order; otherwise what to wait for, or the
 * rejection. An event accepted before the completion but delivered after it
 * still gets its session.
 */
export async function sessionFor(
  batch: Batch,
  event: WireEvent & { sessionKey: string },
): Promise<Doc<"productionSessions"> | Refusal> {
  const { sessionKey } = event;
  const session = await batch.session(sessionKey);
  if (session === null) {
    return wait(
      "session",
      sessionKey,
      "session_not_found",
      `session ${sessionKey} does not exist`,
    );
  }
  if (isAfterCompletion(session, timelineKey(event))) {
    return reject(
      "session_completed",
      `session ${sessionKey} is completed; it takes no more writes`,
    );
  }
  return session;
}

/** Whether timeline key `t` comes after the session's completion. */
export function isAfterCompletion(
  session: Doc<"productionSessions">,
  t: string,
): boolean {
  return session.completedTimeline !== undefined && t > session.completedTimeline;
}

export function cameraWaitKey(sessionKey: string, cameraKey: string) {
  return `${sessionKey}/${cameraKey}`;
}

/** The camera, if it has joined the session; otherwise what to wait for. */
export async function cameraInSession(
  batch: Batch,
  sessionKey: string,
  cameraKey: string,
): Promise<Doc<"productionCameras"> | Refusal> {
  const camera = await batch.camera(sessionKey, cameraKey);
  if (camera === null) {
    return wait(
      "camera",
      cameraWaitKey(sessionKey, cameraKey),
      "camera_not_in_session",
      `camera ${cameraKey} has not joined session ${sessionKey}`,
    );
  }
  return camera;
}

export function getDevice(ctx: MutationCtx, deviceId: string) {
  return ctx.db
    .query("productionDevices")
    .withIndex("by_deviceId", (q) => q.eq("deviceId", deviceId))
    .unique();
}

export function getStill(ctx: MutationCtx, stillId: string) {
  return ctx.db
    .query("productionStills")
    .withIndex("by_stillId", (q) => q.eq("stillId", stillId))
    .first();
}

/**
 * Whether a device is retired by an event earlier in the timeline than `t`
 * (migrations-notes/0005): a join or a replacement at `t` is then
 * `device_retired`; one that came first stays applied.
 */
export function isRetiredBefore(device: Doc<"productionDevices">, t: string): boolean {
  const r = device.retirement;
  return r !== undefined && r !== null && (device.timelines.retirement ?? "") < t;
}

/**
 * The camera a device holds in another live session since earlier in the
 * timeline than `t`, if any (it is free again when that session completes).
 * Since when: the timeline of the replacement that gave it the camera, else
 * of the camera's join. A session it came to later in the timeline does not
 * hold it back: there, the event at `t` came first.
 */
export async function busyElsewhere(
  batch: Batch,
  deviceId: string,
  sessionKey: string,
  t: string,
): Promise<Doc<"productionCameras"> | undefined> {
  const live = await batch.db
    .query("productionCameras")
    .withIndex("by_device_live", (q) => q.eq("deviceId", deviceId).eq("live", true))
    .take(10);
  return live.find(
    (c) => c.sessionKey !== sessionKey && (c.timelines.deviceId ?? c.timelines.joined ?? "") < t,
  );
}
