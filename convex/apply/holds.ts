// Holds: `hold_start` and `hold_end`, paired by timeline, not by arrival.
//
// For one (session, holdId) the hold events present — applied rows, waiting
// receipts, and the event arriving — are replayed in timeline order each
// time one arrives (a hold id has a handful of events): a start opens the
// hold unless it is open (then it waits: `hold_already_open`), an end closes
// the hold the latest open start opened (or waits: `hold_not_open`), and a
// hold still open at the end, started before the session's completion, is
// closed by the completion. The rows and receipts are then brought to what
// the replay says, so the pairing is a function of the set of hold events.
import type { Doc, Id } from "../_generated/dataModel";
import type { Batch } from "../batch";
import { isRefusal, wait, type EventOf, type Outcome, type Waiting } from "../outcome";
import { record, waitingFor, waitsForKey, type Receipt } from "../receipts";
import { cameraInSession, sessionFor } from "../rules/lookups";
import { parseTimeline, timelineKey } from "../timeline";
import type { WireEvent } from "../wire";

type HoldEvent = EventOf<"hold_start" | "hold_end">;
type Row = Doc<"productionDirectorEvents">;
type Session = Doc<"productionSessions">;

export async function hold(batch: Batch, event: HoldEvent): Promise<Outcome> {
  const session = await sessionFor(batch, event);
  if (isRefusal(session)) return session;
  if (event.type === "hold_start") {
    const camera = await cameraInSession(batch, event.sessionKey, event.cameraKey);
    if (isRefusal(camera)) return camera;
  }
  return replay(batch, session, event);
}

interface Item {
  t: string;
  event: HoldEvent;
  row?: Row;
  receipt?: Receipt;
  incoming?: true;
}

type Desired =
  | { state: "start"; closedBy?: Item | "complete" }
  | { state: "end"; start: Item }
  | { state: "waiting"; why: Waiting };

/** The event a hold row was made from (to wait again, if it must). */
function eventOfRow(row: Row): HoldEvent {
  const { instance, seq } = parseTimeline(row.timeline);
  const common = {
    eventId: row.eventId,
    at: row.at,
    receivedAt: row.receivedAt,
    instance,
    seq,
    sessionKey: row.sessionKey,
    holdId: row.holdId!,
  };
  return row.type === "hold_start"
    ? { ...common, type: "hold_start", cameraKey: row.cameraKey! }
    : { ...common, type: "hold_end" };
}

function rowFields(item: Item, d: Desired, session: Session) {
  const e = item.event;
  if (d.state === "start") {
    const closed =
      d.closedBy === undefined
        ? { holdOpen: true, holdClosedAt: undefined, holdClosedBy: undefined, holdCloseEventId: undefined }
        : d.closedBy === "complete"
          ? {
              holdOpen: false,
              holdClosedAt: session.completedAt,
              holdClosedBy: "complete_session" as const,
              holdCloseEventId: session.completeEventId,
            }
          : {
              holdOpen: false,
              holdClosedAt: d.closedBy.event.at,
              holdClosedBy: "hold_end" as const,
              holdCloseEventId: d.closedBy.event.eventId,
            };
    return { type: "hold_start" as const, cameraKey: (e as EventOf<"hold_start">).cameraKey, holdId: e.holdId, ...closed };
  }
  if (d.state === "end") {
    const start = d.start.event as EventOf<"hold_start">;
    return {
      type: "hold_end" as const,
      holdId: e.holdId,
      cameraKey: start.cameraKey,
      holdStartEventId: start.eventId,
      holdDurationMs: Math.max(0, e.at - start.at),
    };
  }
  throw new Error("rowFields of a waiting hold event");
}

function differs(row: Row, fields: Record<string, unknown>): boolean {
  return Object.entries(fields).some(([k, x]) => (row as Record<string, unknown>)[k] !== x);
}

async function replay(batch: Batch, session: Session, incoming: HoldEvent): Promise<Outcome> {
  const { sessionKey, holdId } = incoming;
  const waitKey = `${sessionKey}/${holdId}`;
  const rows = await batch.db
    .query("productionDirectorEvents")
    .withIndex("by_session_hold", (q) => q.eq("sessionKey", sessionKey).eq("holdId", holdId))
    .collect();
  const waiters = await waitingFor(batch, waitsForKey("hold", waitKey));
  const items: Item[] = [
    ...rows.map((row) => ({ t: row.timeline, event: eventOfRow(row), row })),
    ...waiters.map((receipt) => ({ t: receipt.timeline, event: receipt.event as HoldEvent, receipt })),
  ];
  if (!items.some((i) => i.event.eventId === incoming.eventId)) {
    items.push({ t: timelineKey(incoming), event: incoming, incoming: true });
  }
  items.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));

  // The replay, in timeline order.
  const desired = new Map<Item, Desired>();
  let open: Item | null = null;
  for (const item of items) {
    if (item.event.type === "hold_start") {
      if (open === null) {
        desired.set(item, { state: "start" });
        open = item;
      } else {
        desired.set(item, {
          state: "waiting",
          why: wait(
            "hold",
            waitKey,
            "hold_already_open",
            `hold ${holdId} is already open (started by event ${open.event.eventId})`,
          ),
        });
      }
    } else if (open !== null) {
      desired.set(item, { state: "end", start: open });
      desired.set(open, { state: "start", closedBy: item });
      open = null;
    } else {
      desired.set(item, {
        state: "waiting",
        why: wait("hold", waitKey, "hold_not_open", `hold ${holdId} is not open in session ${sessionKey}`),
      });
    }
  }
  if (open !== null && session.completedTimeline !== undefined && open.t < session.completedTimeline) {
    desired.set(open, { state: "start", closedBy: "complete" });
  }

  // Bring rows and receipts to it.
  let holds = 0;
  let events = 0;
  let closedOnComplete = 0;
  let outcome: Outcome | null = null;
  for (const item of items) {
    const d = desired.get(item)!;
    const wasStart = item.row?.type === "hold_start";
    if (item.row?.holdClosedBy === "complete_session") closedOnComplete -= 1;
    if (d.state === "start" && d.closedBy === "complete") closedOnComplete += 1;
    if (d.state === "waiting") {
      if (item.row) {
        await batch.db.delete(item.row._id);
        events -= 1;
        if (wasStart) holds -= 1;
        await record(batch, item.event, d.why, await batch.receipt(item.event.eventId));
      } else if (item.receipt) {
        if (item.receipt.code !== d.why.code || item.receipt.message !== d.why.message) {
          await record(batch, item.event, d.why, item.receipt);
        }
      } else {
        outcome = d.why;
      }
      continue;
    }
    const fields = rowFields(item, d, session);
    let id: Id<"productionDirectorEvents">;
    if (item.row) {
      id = item.row._id;
      if (differs(item.row, fields)) await batch.db.patch(id, fields);
    } else {
      id = await batch.db.insert("productionDirectorEvents", {
        eventId: item.event.eventId,
        sessionKey,
        timeline: item.t,
        at: item.event.at,
        receivedAt: item.event.receivedAt,
        appliedAt: batch.now,
        ...stripUndefined(fields),
      });
      events += 1;
      if (d.state === "start") holds += 1;
      const ledgerIds = { productionDirectorEvents: id };
      if (item.receipt) {
        await record(batch, item.event, { verdict: "applied", ledgerIds }, item.receipt);
      } else {
        outcome = { verdict: "applied", ledgerIds };
      }
    }
  }
  if (holds !== 0 || events !== 0 || closedOnComplete !== 0) {
    await batch.count(sessionKey, { holds, events, holdsClosedOnComplete: closedOnComplete });
  }
  return outcome ?? currentOf(batch, incoming);
}

function stripUndefined<T extends Record<string, unknown>>(x: T): T {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as T;
}

/** The incoming event was already in the replay (as a row or a waiter). */
async function currentOf(batch: Batch, event: WireEvent): Promise<Outcome> {
  const r = await batch.receipt(event.eventId);
  if (r?.verdict === "applied") return { verdict: "applied", ledgerIds: r.ledgerIds ?? {} };
  if (r?.verdict === "waiting" && r.waitingFor && r.code && r.message) {
    return wait(r.waitingFor.kind, r.waitingFor.key, r.code, r.message);
  }
  throw new Error(`hold replay lost event ${event.eventId}`);
}
