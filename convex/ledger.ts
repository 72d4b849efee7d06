// Read side of the ledger. Contract: migrations-notes/0003-order-independence.md
// ("Paged reads"), and 0005 ("Reads", contract 3: sessions, clashes, device). Every read is internal: it is called with the deploy key
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

/**
 * A page of sessions, newest `startedAt` (sender clock of the earliest
 * start) first; only those of `status` if given, and with `startedAt` in
 * `startedFrom..=startedTo` (each bound optional).
 */
export const sessions = internalQuery({
  args: {
    paginationOpts: paginationOptsValidator,
    status: v.optional(v.union(v.literal("live"), v.literal("completed"))),
    startedFrom: v.optional(v.number()),
    startedTo: v.optional(v.number()),
  },
  handler: async (ctx, { paginationOpts, status, startedFrom, startedTo }) => {
    // The optional bounds on startedAt (the index builder's type changes
    // with each bound, hence the loose type).
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const range = (q: any) => {
      let r = q;
      if (startedFrom !== undefined) r = r.gte("startedAt", startedFrom);
      if (startedTo !== undefined) r = r.lte("startedAt", startedTo);
      return r;
    };
    const table = ctx.db.query("productionSessions");
    const query =
      status === undefined
        ? table.withIndex("by_startedAt", range)
        : table.withIndex("by_status_startedAt", (q) => range(q.eq("status", status)));
    return query.order("desc").paginate(bounded(paginationOpts));
  },
});

/** A page of the clash reports with that `open`, in timeline order (of the refused registrations). */
export const clashes = internalQuery({
  args: { paginationOpts: paginationOptsValidator, open: v.boolean() },
  handler: async (ctx, { paginationOpts, open }) =>
    ctx.db
      .query("productionDeviceClashes")
      .withIndex("by_open", (q) => q.eq("open", open))
      .paginate(bounded(paginationOpts)),
});

/**
 * One device and what the ledger knows of it: its row (or null); its camera
 * rows, live or not (at most CAMERAS_READ_MAX, in timeline order of their
 * joins); the clash reports where it is holder or claimant (at most
 * READ_PAGE_MAX of each, in timeline order); its latest READ_PAGE_MAX
 * receipts and placement rows, oldest first.
 */
export const device = internalQuery({
  args: { deviceId: v.string() },
  handler: async (ctx, { deviceId }) => {
    const device = await ctx.db
      .query("productionDevices")
      .withIndex("by_deviceId", (q) => q.eq("deviceId", deviceId))
      .unique();
    const cameras = (
      await ctx.db
        .query("productionCameras")
        .withIndex("by_device_live", (q) => q.eq("deviceId", deviceId))
        .take(CAMERAS_READ_MAX)
    ).sort((a, b) => byString(a.timelines.joined ?? "", b.timelines.joined ?? ""));
    const held = await ctx.db
      .query("productionDeviceClashes")
      .withIndex("by_holder", (q) => q.eq("holderDeviceId", deviceId))
      .take(READ_PAGE_MAX);
    const claimed = await ctx.db
      .query("productionDeviceClashes")
      .withIndex("by_claimant", (q) => q.eq("claimantDeviceId", deviceId))
      .take(READ_PAGE_MAX);
    const clashes = [...held, ...claimed].sort((a, b) => byString(a.timeline, b.timeline));
    const receipts = (
      await ctx.db
        .query("ingestReceipts")
        .withIndex("by_device_timeline", (q) => q.eq("deviceId", deviceId))
        .order("desc")
        .take(READ_PAGE_MAX)
    ).reverse();
    const placements = (
      await ctx.db
        .query("productionCameraPlacements")
        .withIndex("by_device_timeline", (q) => q.eq("deviceId", deviceId))
        .order("desc")
        .take(READ_PAGE_MAX)
    ).reverse();
    return { device, cameras, clashes, receipts, placements };
  },
});

function byString(a: string, b: string) {
  return a < b ? -1 : a > b ? 1 : 0;
}

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
