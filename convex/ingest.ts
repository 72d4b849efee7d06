// `ingest:applyBatch` and `ingest:settle`: the write path of the ledger.
// Contract: migrations-notes/0001-ledger-schema-and-wire.md, refined by
// 0003-order-independence.md and 0005-registry-repair-and-reads.md.
//
// Every event of a batch is applied in order in the one transaction of the
// mutation, and gets exactly one verdict: applied, rejected, or waiting (for
// a prerequisite that has not arrived: its session, a camera, a device, the
// open hold, the still). What an applied event brings wakes the events that
// wait for it, which are applied then, in timeline order. A rejection is a
// returned value, never an exception: every check of an event runs before
// its first write, so a refused event writes nothing but its receipt (and,
// for a hardware id conflict, its clash report: 0005), and the events after
// it still run. The mutation throws only on a caller bug
// (batch size) or a ledger bug.
//
// This file holds the two mutations, the receipts' replays and the dispatch
// by event type. The rest, none of it registered as a Convex function:
//   limits.ts           every limit enforced here, named once
//   timeline.ts         the timeline key (acceptance order)
//   lww.ts              fields that the latest (or earliest) event sets
//   batch.ts            the batch's cache of hot rows, written once
//   receipts.ts         receipts, waiting and settling
//   outcome.ts          applied / waiting / rejected, as the apply functions return them
//   defined.ts          optional fields, written only when present
//   rules/checks.ts     static checks (no ledger reads)
//   rules/lookups.ts    ledger reads, and "the row or the refusal"
//   apply/sessions.ts   start_shoot, complete_session
//   apply/devices.ts    register_device
//   apply/cameras.ts    join_session, update_placement
//   apply/director.ts   cut, cue, marker, note
//   apply/holds.ts      hold_start, hold_end (paired by timeline)
//   apply/stills.ts     still_marker, still_uploaded
//   apply/registry.ts   retire_device, reinstate_device, rename_device,
//                       resolve_clash, replace_camera_device (operators' repairs)
import { v } from "convex/values";
import { internalMutation } from "./_generated/server";
import { joinSession, updatePlacement } from "./apply/cameras";
import { registerDevice } from "./apply/devices";
import { cut, simpleDirectorEvent } from "./apply/director";
import { hold } from "./apply/holds";
import {
  reinstateDevice,
  renameDevice,
  replaceCameraDevice,
  resolveClash,
  retireDevice,
} from "./apply/registry";
import { completeSession, startShoot } from "./apply/sessions";
import { stillMarker, stillUploaded } from "./apply/stills";
import { Batch } from "./batch";
import { EVENT_ID_MAX, MAX_BATCH } from "./limits";
import type { Outcome } from "./outcome";
import { expire, record, verdictOf, waitingFor } from "./receipts";
import { checkCommon } from "./rules/checks";
import { verdict as verdictValidator, wireEvent, type Verdict, type WireEvent } from "./wire";

export const applyBatch = internalMutation({
  args: { events: v.array(wireEvent) },
  returns: v.object({ verdicts: v.array(verdictValidator) }),
  handler: async (ctx, { events }) => {
    if (events.length < 1 || events.length > MAX_BATCH) {
      throw new Error(`applyBatch takes 1..=${MAX_BATCH} events, got ${events.length}`);
    }
    const batch = new Batch(ctx, Date.now());
    await batch.preloadReceipts(events.map((e) => e.eventId).filter(validId));
    const verdicts: Verdict[] = [];
    for (const event of events) {
      verdicts.push(await applyOne(batch, event));
    }
    await batch.flush();
    return { verdicts };
  },
});

const settleVerdict = v.union(
  verdictValidator,
  v.object({ eventId: v.string(), verdict: v.literal("missing") }),
);

/**
 * The current verdict of each event (the service asks for those it holds as
 * waiting). A waiting event whose session completed more than `graceMs` ago
 * is rejected first, with the code it was waiting under. `missing`: the
 * ledger has no receipt of it (the service sends it again).
 */
export const settle = internalMutation({
  args: { eventIds: v.array(v.string()), graceMs: v.number() },
  returns: v.object({ verdicts: v.array(settleVerdict) }),
  handler: async (ctx, { eventIds, graceMs }) => {
    if (eventIds.length < 1 || eventIds.length > MAX_BATCH) {
      throw new Error(`settle takes 1..=${MAX_BATCH} event ids, got ${eventIds.length}`);
    }
    const batch = new Batch(ctx, Date.now());
    const verdicts = [];
    for (const eventId of eventIds) {
      const receipt = validId(eventId) ? await batch.receipt(eventId) : null;
      if (receipt === null) {
        verdicts.push({ eventId, verdict: "missing" as const });
        continue;
      }
      if (receipt.verdict === "waiting" && receipt.waitSession !== undefined) {
        const session = await batch.session(receipt.waitSession);
        const completedAt = session?.completedAppliedAt;
        if (completedAt !== undefined && batch.now - completedAt >= graceMs) {
          await expire(batch, receipt);
        }
      }
      verdicts.push(verdictOf((await batch.receipt(eventId))!, false));
    }
    await batch.flush();
    return { verdicts };
  },
});

function validId(eventId: string) {
  return eventId.length > 0 && eventId.length <= EVENT_ID_MAX;
}

async function applyOne(batch: Batch, event: WireEvent): Promise<Verdict> {
  const { eventId } = event;
  if (!validId(eventId)) {
    // No receipt: an empty or oversized id cannot key one.
    return {
      eventId,
      verdict: "rejected",
      code: "invalid_event",
      message: `eventId must be 1..${EVENT_ID_MAX} characters`,
    };
  }
  const receipt = await batch.receipt(eventId);
  if (receipt !== null) {
    // A replay. A waiting event answers waiting again: nothing is settled.
    return verdictOf(receipt, true);
  }
  const outcome = await dispatch(batch, event);
  const written = await record(batch, event, outcome, null);
  if (outcome.verdict === "applied") await wake(batch, outcome.wakes ?? []);
  // Waking may have changed nothing of this event; read it back anyway.
  return verdictOf((await batch.receipt(eventId)) ?? written, false);
}

/**
 * Applies the events that wait for what was just applied (`keys`), in
 * timeline order; what they bring wakes others in turn.
 */
async function wake(batch: Batch, keys: string[]) {
  const queue = [...keys];
  while (queue.length > 0) {
    const key = queue.shift()!;
    for (const waiter of await waitingFor(batch, key)) {
      const current = await batch.receipt(waiter.eventId);
      if (current?.verdict !== "waiting" || current.waitsFor !== key || !current.event) continue;
      const outcome = await dispatch(batch, current.event);
      await record(batch, current.event, outcome, current);
      if (outcome.verdict === "applied") queue.push(...(outcome.wakes ?? []));
    }
  }
}

async function dispatch(batch: Batch, event: WireEvent): Promise<Outcome> {
  const bad = checkCommon(event);
  if (bad) return bad;
  switch (event.type) {
    case "start_shoot":
      return startShoot(batch, event);
    case "complete_session":
      return completeSession(batch, event);
    case "register_device":
      return registerDevice(batch, event);
    case "join_session":
      return joinSession(batch, event);
    case "update_placement":
      return updatePlacement(batch, event);
    case "cut":
      return cut(batch, event);
    case "hold_start":
    case "hold_end":
      return hold(batch, event);
    case "cue":
    case "marker":
    case "note":
      return simpleDirectorEvent(batch, event);
    case "still_marker":
      return stillMarker(batch, event);
    case "still_uploaded":
      return stillUploaded(batch, event);
    case "retire_device":
      return retireDevice(batch, event);
    case "reinstate_device":
      return reinstateDevice(batch, event);
    case "rename_device":
      return renameDevice(batch, event);
    case "resolve_clash":
      return resolveClash(batch, event);
    case "replace_camera_device":
      return replaceCameraDevice(batch, event);
    default: {
      const never: never = event;
      throw new Error(`unhandled event type ${JSON.stringify(never)}`);
    }
  }
}
