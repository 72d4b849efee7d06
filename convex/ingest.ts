// `ingest:applyBatch`: the one write path of the ledger.
// Exact contract: migrations-notes/0001-ledger-schema-and-wire.md.
//
// Every event of a batch is applied in order in the one transaction of the
// mutation. Each event gets exactly one verdict. A rejection is a returned
// value, never an exception: every check of an event runs before its first
// write, so a rejected event writes nothing but its receipt, and the events
// after it still run. The mutation throws only on a caller bug (batch size) or
// a ledger bug.
//
// This file holds the mutation, the receipts (duplicates) and the dispatch by
// event type. The rest, none of it registered as a Convex function:
//   limits.ts           every limit enforced here, named once
//   outcome.ts          applied / rejected, as the apply functions return them
//   defined.ts          optional fields, written only when present
//   rules/checks.ts     static checks (no ledger reads)
//   rules/lookups.ts    ledger reads, and "the row or the rejection"
//   apply/sessions.ts   start_shoot, complete_session (and its summary)
//   apply/devices.ts    register_device
//   apply/cameras.ts    join_session, update_placement
//   apply/director.ts   cut, hold_start, hold_end, cue, marker, note
//   apply/stills.ts     still_marker, still_uploaded
import { v } from "convex/values";
import { internalMutation, type MutationCtx } from "./_generated/server";
import { cut, holdEnd, holdStart, simpleDirectorEvent } from "./apply/director";
import { joinSession, updatePlacement } from "./apply/cameras";
import { registerDevice } from "./apply/devices";
import { completeSession, startShoot } from "./apply/sessions";
import { stillMarker, stillUploaded } from "./apply/stills";
import { defined } from "./defined";
import { EVENT_ID_MAX, MAX_BATCH } from "./limits";
import type { Outcome } from "./outcome";
import { checkCommon } from "./rules/checks";
import {
  verdict as verdictValidator,
  wireEvent,
  type Verdict,
  type WireEvent,
} from "./wire";

export const applyBatch = internalMutation({
  args: { events: v.array(wireEvent) },
  returns: v.object({ verdicts: v.array(verdictValidator) }),
  handler: async (ctx, { events }) => {
    if (events.length < 1 || events.length > MAX_BATCH) {
      throw new Error(
        `applyBatch takes 1..=${MAX_BATCH} events, got ${events.length}`,
      );
    }
    const appliedAt = Date.now();
    const verdicts: Verdict[] = [];
    for (const event of events) {
      verdicts.push(await applyOne(ctx, event, appliedAt));
    }
    return { verdicts };
  },
});

async function applyOne(
  ctx: MutationCtx,
  event: WireEvent,
  appliedAt: number,
): Promise<Verdict> {
  const { eventId } = event;
  if (eventId.length === 0 || eventId.length > EVENT_ID_MAX) {
    // No receipt: an empty or oversized id cannot key one.
    return {
      eventId,
      verdict: "rejected",
      code: "invalid_event",
      message: `eventId must be 1..${EVENT_ID_MAX} characters`,
    };
  }

  const receipt = await ctx.db
    .query("ingestReceipts")
    .withIndex("by_eventId", (q) => q.eq("eventId", eventId))
    .unique();
  if (receipt !== null) {
    return {
      eventId,
      verdict: "duplicate",
      original: receipt.verdict,
      ...defined({
        code: receipt.code,
        message: receipt.message,
        sequence: receipt.sequence,
        ledgerIds: receipt.ledgerIds,
      }),
    };
  }

  const outcome = await dispatch(ctx, event, appliedAt);

  await ctx.db.insert("ingestReceipts", {
    eventId,
    type: event.type,
    verdict: outcome.verdict,
    ...(outcome.verdict === "rejected"
      ? { code: outcome.code, message: outcome.message }
      : {
          ledgerIds: outcome.ledgerIds,
          ...defined({ sequence: outcome.sequence }),
        }),
    ...("sessionKey" in event ? { sessionKey: event.sessionKey } : {}),
    ...("deviceId" in event ? { deviceId: event.deviceId } : {}),
    at: event.at,
    receivedAt: event.receivedAt,
    appliedAt,
  });

  if (outcome.verdict === "rejected") {
    return {
      eventId,
      verdict: "rejected",
      code: outcome.code,
      message: outcome.message,
    };
  }
  return {
    eventId,
    verdict: "applied",
    ledgerIds: outcome.ledgerIds,
    ...defined({ sequence: outcome.sequence }),
  };
}

async function dispatch(
  ctx: MutationCtx,
  event: WireEvent,
  now: number,
): Promise<Outcome> {
  const bad = checkCommon(event);
  if (bad) return bad;
  switch (event.type) {
    case "start_shoot":
      return startShoot(ctx, event, now);
    case "complete_session":
      return completeSession(ctx, event, now);
    case "register_device":
      return registerDevice(ctx, event, now);
    case "join_session":
      return joinSession(ctx, event, now);
    case "update_placement":
      return updatePlacement(ctx, event, now);
    case "cut":
      return cut(ctx, event, now);
    case "hold_start":
      return holdStart(ctx, event, now);
    case "hold_end":
      return holdEnd(ctx, event, now);
    case "cue":
      return simpleDirectorEvent(ctx, event, now);
    case "marker":
      return simpleDirectorEvent(ctx, event, now);
    case "note":
      return simpleDirectorEvent(ctx, event, now);
    case "still_marker":
      return stillMarker(ctx, event, now);
    case "still_uploaded":
      return stillUploaded(ctx, event, now);
    default: {
      const never: never = event;
      throw new Error(`unhandled event type ${JSON.stringify(never)}`);
    }
  }
}
