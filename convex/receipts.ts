// Receipts: what the ledger knows of each eventId it has seen, with its
// current verdict (migrations-notes/0001, refined by 0003).
//
// An applied director event's receipt is its productionDirectorEvents row,
// which is keyed by eventId as well: a second document per event would
// double what a batch writes. Every other event (and a director event that
// is waiting or rejected) has a row of ingestReceipts. A waiting receipt
// also holds the event, what it waits for (`waitsFor`, indexed with the
// timeline key) and its session (`waitSession`, likewise), so that what it
// waits for can find it and the session's completion can settle it.
import type { Doc, Id } from "./_generated/dataModel";
import type { DatabaseReader } from "./_generated/server";
import type { Batch } from "./batch";
import { defined } from "./defined";
import type { Outcome } from "./outcome";
import { timelineKey } from "./timeline";
import type { RejectionCode, Verdict, WaitingKind, WireEvent } from "./wire";

/** A receipt: a row of ingestReceipts (`_id`), or read from a director event's row. */
export type Receipt = Omit<Doc<"ingestReceipts">, "_id" | "_creationTime"> & {
  _id?: Id<"ingestReceipts">;
};

/** The receipt an applied director event's row stands for. */
export function receiptOfRow(row: Doc<"productionDirectorEvents">): Receipt {
  return {
    eventId: row.eventId,
    type: row.type === "still" ? "still_marker" : row.type,
    verdict: "applied",
    timeline: row.timeline,
    ledgerIds: {
      productionDirectorEvents: row._id,
      ...(row.stillRowId !== undefined ? { productionStills: row.stillRowId } : {}),
    },
    sessionKey: row.sessionKey,
    at: row.at,
    receivedAt: row.receivedAt,
    appliedAt: row.appliedAt,
  };
}

/** The receipt of an eventId, wherever it is kept, or null. */
export async function findReceipt(db: DatabaseReader, eventId: string): Promise<Receipt | null> {
  const receipt = await db
    .query("ingestReceipts")
    .withIndex("by_eventId", (q) => q.eq("eventId", eventId))
    .unique();
  if (receipt !== null) return receipt;
  const row = await db
    .query("productionDirectorEvents")
    .withIndex("by_eventId", (q) => q.eq("eventId", eventId))
    .unique();
  return row === null ? null : receiptOfRow(row);
}

/** The index key of what a waiting event waits for. */
export function waitsForKey(kind: WaitingKind, key: string): string {
  return `${kind}:${key}`;
}

/** The receipt fields an outcome sets (and the waiting ones it clears). */
function outcomeFields(event: WireEvent, outcome: Outcome, now: number) {
  const none = {
    code: undefined,
    message: undefined,
    ledgerIds: undefined,
    waitingFor: undefined,
    waitsFor: undefined,
    waitSession: undefined,
    event: undefined,
  };
  switch (outcome.verdict) {
    case "applied":
      return { ...none, verdict: "applied" as const, ledgerIds: outcome.ledgerIds, appliedAt: now };
    case "rejected":
      return { ...none, verdict: "rejected" as const, code: outcome.code, message: outcome.message, appliedAt: now };
    case "waiting":
      return {
        ...none,
        verdict: "waiting" as const,
        code: outcome.code,
        message: outcome.message,
        waitingFor: { kind: outcome.kind, key: outcome.key },
        waitsFor: waitsForKey(outcome.kind, outcome.key),
        waitSession: "sessionKey" in event ? event.sessionKey : undefined,
        event,
        appliedAt: now,
      };
  }
}

/** Writes the outcome of an event: a new receipt, or a change of `existing`. */
export async function record(
  batch: Batch,
  event: WireEvent,
  outcome: Outcome,
  existing: Receipt | null,
): Promise<Receipt> {
  const base = {
    eventId: event.eventId,
    type: event.type,
    timeline: timelineKey(event),
    ...defined({
      sessionKey: "sessionKey" in event ? event.sessionKey : undefined,
      // resolve_clash: its owner (migrations-notes/0005, ledger:device).
      deviceId: "deviceId" in event ? event.deviceId : event.type === "resolve_clash" ? event.ownerDeviceId : undefined,
    }),
    at: event.at,
    receivedAt: event.receivedAt,
  };
  const fields = outcomeFields(event, outcome, batch.now);
  let receipt: Receipt;
  if (outcome.verdict === "applied" && outcome.ledgerIds.productionDirectorEvents !== undefined) {
    // Its row is its receipt.
    if (existing?._id !== undefined) await batch.db.delete(existing._id);
    receipt = { ...base, verdict: "applied", ledgerIds: outcome.ledgerIds, appliedAt: batch.now };
  } else if (existing?._id !== undefined) {
    await batch.db.patch(existing._id, fields);
    receipt = { ...existing, ...defined(fields) } as Receipt;
    for (const [k, x] of Object.entries(fields)) {
      if (x === undefined) delete (receipt as Record<string, unknown>)[k];
    }
  } else {
    const doc = { ...base, ...defined(fields) } as Omit<Doc<"ingestReceipts">, "_id" | "_creationTime">;
    receipt = { ...doc, _id: await batch.db.insert("ingestReceipts", doc) };
  }
  batch.rememberReceipt(receipt);
  return receipt;
}

/** The verdict a receipt answers now (`duplicate` when it is settled and `replay`). */
export function verdictOf(receipt: Receipt, replay: boolean): Verdict {
  const common = {
    eventId: receipt.eventId,
    timeline: receipt.timeline,
  };
  switch (receipt.verdict) {
    case "waiting":
      return {
        ...common,
        verdict: "waiting",
        ...defined({ code: receipt.code, message: receipt.message, waitingFor: receipt.waitingFor }),
      };
    case "applied":
    case "rejected":
      return {
        ...common,
        ...(replay
          ? { verdict: "duplicate" as const, original: receipt.verdict }
          : { verdict: receipt.verdict }),
        ...defined({ code: receipt.code, message: receipt.message, ledgerIds: receipt.ledgerIds }),
      };
  }
}

/** The waiting receipts that wait for `waitsFor`, in timeline order. */
export function waitingFor(batch: Batch, waitsFor: string) {
  return batch.db
    .query("ingestReceipts")
    .withIndex("by_waitsFor", (q) => q.eq("waitsFor", waitsFor))
    .collect();
}

/** Rejects a waiting receipt with the code it was waiting under. */
export async function expire(batch: Batch, receipt: Receipt, code?: RejectionCode, message?: string) {
  const event = receipt.event;
  if (event === undefined) return;
  await record(
    batch,
    event,
    {
      verdict: "rejected",
      code: code ?? receipt.code ?? "invalid_event",
      message: message ?? receipt.message ?? "waited in vain",
    },
    receipt,
  );
}

/**
 * Settles waiting events of a session: those after timeline key `after`
 * (a completion) as `session_completed`.
 */
export async function rejectWaiting(batch: Batch, sessionKey: string, { after }: { after: string }) {
  const waiting = await batch.db
    .query("ingestReceipts")
    .withIndex("by_waitSession", (q) => q.eq("waitSession", sessionKey).gt("timeline", after))
    .collect();
  for (const r of waiting) {
    await expire(
      batch,
      r,
      "session_completed",
      `session ${sessionKey} is completed; it takes no more writes`,
    );
  }
}
