// Read side of the ledger. Contract: migrations-notes/0001-ledger-schema-and-wire.md.
// Every read is internal: it is called with the deploy key (admin), never by
// anonymous clients (migrations-notes/0002-contract-handshake.md).
import { v } from "convex/values";
import { internalQuery } from "./_generated/server";

/**
 * A session with everything it left behind, or null.
 * cameras: by cameraKey, each with its latest placement (`placement`,
 * `placementVersion`); placements: history ordered by (cameraKey, version);
 * events: director events in sequence order; stills: by capturedAt.
 */
export const session = internalQuery({
  args: { sessionKey: v.string() },
  handler: async (ctx, { sessionKey }) => {
    const session = await ctx.db
      .query("productionSessions")
      .withIndex("by_sessionKey", (q) => q.eq("sessionKey", sessionKey))
      .unique();
    if (session === null) return null;
    const cameras = await ctx.db
      .query("productionCameras")
      .withIndex("by_session_camera", (q) => q.eq("sessionKey", sessionKey))
      .collect();
    const placements = await ctx.db
      .query("productionCameraPlacements")
      .withIndex("by_camera_version", (q) => q.eq("sessionKey", sessionKey))
      .collect();
    const events = await ctx.db
      .query("productionDirectorEvents")
      .withIndex("by_session_sequence", (q) => q.eq("sessionKey", sessionKey))
      .collect();
    const stills = await ctx.db
      .query("productionStills")
      .withIndex("by_session_capturedAt", (q) => q.eq("sessionKey", sessionKey))
      .collect();
    return { session, cameras, placements, events, stills };
  },
});

/**
 * The device registry, ordered by deviceId. `stale` is true when the device
 * was last seen (service clock) more than `staleAfterMs` before now.
 */
export const devices = internalQuery({
  args: { staleAfterMs: v.number() },
  handler: async (ctx, { staleAfterMs }) => {
    const now = Date.now();
    const devices = await ctx.db
      .query("productionDevices")
      .withIndex("by_deviceId")
      .collect();
    return devices.map((d) => ({
      ...d,
      stale: now - d.lastSeenAt > staleAfterMs,
    }));
  },
});

/** The receipt (first verdict) of one eventId, or null. */
export const receipt = internalQuery({
  args: { eventId: v.string() },
  handler: async (ctx, { eventId }) => {
    return await ctx.db
      .query("ingestReceipts")
      .withIndex("by_eventId", (q) => q.eq("eventId", eventId))
      .unique();
  },
});
