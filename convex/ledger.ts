// Read side of the ledger. Contract: migrations-notes/0003-order-independence.md
// ("Paged reads"). Every read is internal: it is called with the deploy key
// (admin), never by anonymous clients (migrations-notes/0002). Every read is
// bounded: a session's events, stills and placements come in pages of at
// most READ_PAGE_MAX rows, over an index, in timeline order, with a cursor.
// Time-relative values (a device is stale) are the caller's to compute.
import { paginationOptsValidator, type PaginationOptions } from "convex/server";
import { v } from "convex/values";
import { internalQuery } from "./_generated/server";
import { CAMERAS_READ_MAX, MAX_BATCH, READ_PAGE_MAX } from "./limits";
import { findReceipt } from "./receipts";

function bounded(opts: PaginationOptions): PaginationOptions {
  const numItems = Math.max(1, Math.min(READ_PAGE_MAX, Math.trunc(opts.numItems)));
  return { ...opts, numItems };
}

const pageArgs = { sessionKey: v.string(), paginationOpts: paginationOptsValidator };

/** A session and its cameras (by cameraKey, each with its latest placement), or null. */
export const sessionHeader = internalQuery({
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
      .take(CAMERAS_READ_MAX);
    return { session, cameras };
  },
});

/** A page of a session's director events, in timeline order. */
export const sessionEvents = internalQuery({
  args: pageArgs,
  handler: async (ctx, { sessionKey, paginationOpts }) =>
    ctx.db
      .query("productionDirectorEvents")
      .withIndex("by_session_timeline", (q) => q.eq("sessionKey", sessionKey))
      .paginate(bounded(paginationOpts)),
});

/** A page of a session's stills, in timeline order (of their markers). */
export const sessionStills = internalQuery({
  args: pageArgs,
  handler: async (ctx, { sessionKey, paginationOpts }) =>
    ctx.db
      .query("productionStills")
      .withIndex("by_session_timeline", (q) => q.eq("sessionKey", sessionKey))
      .paginate(bounded(paginationOpts)),
});

/** A page of a session's placement history (every camera), in timeline order. */
export const sessionPlacements = internalQuery({
  args: pageArgs,
  handler: async (ctx, { sessionKey, paginationOpts }) =>
    ctx.db
      .query("productionCameraPlacements")
      .withIndex("by_session_timeline", (q) => q.eq("sessionKey", sessionKey))
      .paginate(bounded(paginationOpts)),
});

/** A page of the device registry, by deviceId (`stale`: the caller's to compute). */
export const devices = internalQuery({
  args: { paginationOpts: paginationOptsValidator },
  handler: async (ctx, { paginationOpts }) =>
    ctx.db.query("productionDevices").withIndex("by_deviceId").paginate(bounded(paginationOpts)),
});

/** The receipt (current verdict) of one eventId, or null (receipts.ts). */
export const receipt = internalQuery({
  args: { eventId: v.string() },
  handler: async (ctx, { eventId }) => findReceipt(ctx.db, eventId),
});

/** The receipts of up to MAX_BATCH eventIds, same order (null where none). */
export const receipts = internalQuery({
  args: { eventIds: v.array(v.string()) },
  handler: async (ctx, { eventIds }) => {
    if (eventIds.length > MAX_BATCH) {
      throw new Error(`receipts takes at most ${MAX_BATCH} event ids, got ${eventIds.length}`);
    }
    return Promise.all(eventIds.map((eventId) => findReceipt(ctx.db, eventId)));
  },
});
