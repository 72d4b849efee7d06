// Reads of the ledger the rules need. Those that return "the row or the
// rejection" turn a missing or closed row into the contract's code.
import type { Doc } from "../_generated/dataModel";
import type { MutationCtx } from "../_generated/server";
import { reject, type Rejected } from "../outcome";

export function getSession(ctx: MutationCtx, sessionKey: string) {
  return ctx.db
    .query("productionSessions")
    .withIndex("by_sessionKey", (q) => q.eq("sessionKey", sessionKey))
    .unique();
}

/** The session, if it exists and is live; otherwise the rejection. */
export async function liveSession(
  ctx: MutationCtx,
  sessionKey: string,
): Promise<Doc<"productionSessions"> | Rejected> {
  const session = await getSession(ctx, sessionKey);
  if (session === null) {
    return reject("session_not_found", `session ${sessionKey} does not exist`);
  }
  if (session.status === "completed") {
    return reject(
      "session_completed",
      `session ${sessionKey} is completed; it takes no more writes`,
    );
  }
  return session;
}

export function getCamera(
  ctx: MutationCtx,
  sessionKey: string,
  cameraKey: string,
) {
  return ctx.db
    .query("productionCameras")
    .withIndex("by_session_camera", (q) =>
      q.eq("sessionKey", sessionKey).eq("cameraKey", cameraKey),
    )
    .unique();
}

/** The camera, if it has joined the session; otherwise the rejection. */
export async function cameraInSession(
  ctx: MutationCtx,
  sessionKey: string,
  cameraKey: string,
): Promise<Doc<"productionCameras"> | Rejected> {
  const camera = await getCamera(ctx, sessionKey, cameraKey);
  if (camera === null) {
    return reject(
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

/** The `hold_start` director event of the hold, while the hold is open. */
export function openHold(ctx: MutationCtx, sessionKey: string, holdId: string) {
  return ctx.db
    .query("productionDirectorEvents")
    .withIndex("by_session_hold", (q) =>
      q.eq("sessionKey", sessionKey).eq("holdId", holdId).eq("holdOpen", true),
    )
    .first();
}
