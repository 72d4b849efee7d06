// A large session reads completely, page by page, each page far below the
// limits (migrations-notes/0003, "Paged reads"): 50,000 director events with
// 4,000-character notes (about 200 MB), which one unbounded query cannot
// return (Convex refuses a read of more than 16 MiB in one function; the
// Rust client refuses any WebSocket message over 16 MiB).
import { describe, expect, test } from "vitest";
import { READ_PAGE_MAX } from "../limits";
import { NOW, internal, setup } from "./harness.helpers";

const EVENTS = 50_000;
const NOTE = 4_000;
/** What this project allows a page, well under Convex's and the client's limits. */
const PAGE_BYTES_MAX = 4 * 1024 * 1024;

describe("paged reads", () => {
  test(`a ${EVENTS}-event session with ${NOTE}-character notes reads completely, page by page`, { timeout: 600_000 }, async () => {
    const t = setup();
    const sessionKey = "big";
    await t.run(async (ctx) => {
      await ctx.db.insert("productionSessions", {
        sessionKey, kind: "photoshoot_performance", status: "live", title: "Big",
        startedAt: NOW, startedReceivedAt: NOW, startEventId: "start", updatedAt: NOW,
        counts: { cameras: 0, cuts: 0, holds: 0, stills: 0, cues: 0, events: EVENTS, holdsClosedOnComplete: 0 },
        timelines: {},
      });
    });
    // Written in chunks that each fit one transaction's write limits.
    const chunk = 2_000;
    for (let i = 0; i < EVENTS; i += chunk) {
      await t.run(async (ctx) => {
        for (let j = i; j < Math.min(EVENTS, i + chunk); j++) {
          const receivedAt = NOW + j;
          await ctx.db.insert("productionDirectorEvents", {
            eventId: `e-${j}`, sessionKey, type: "note",
            timeline: `${String(receivedAt).padStart(15, "0")}.i.${String(j).padStart(12, "0")}`,
            at: receivedAt, receivedAt, appliedAt: NOW,
            text: `${j}:`.padEnd(NOTE, "x"),
          });
        }
      });
    }

    // What contract 1's ledger:session did: one query for all of it.
    await expect(
      t.run((ctx) =>
        ctx.db
          .query("productionDirectorEvents")
          .withIndex("by_session_timeline", (q) => q.eq("sessionKey", sessionKey))
          .collect(),
      ),
    ).rejects.toThrow(/Read too much data|Scanned too many documents/);

    let cursor: string | null = null;
    let pages = 0;
    let read = 0;
    let largest = 0;
    let previous = "";
    for (;;) {
      const page: { page: { timeline: string; text?: string }[]; isDone: boolean; continueCursor: string } =
        await t.query(internal.ledger.sessionEvents, { sessionKey, paginationOpts: { numItems: 10_000, cursor } });
      pages += 1;
      largest = Math.max(largest, JSON.stringify(page).length);
      expect(page.page.length).toBeLessThanOrEqual(READ_PAGE_MAX);
      for (const row of page.page) {
        expect(row.timeline > previous).toBe(true);
        expect(row.text!.startsWith(`${read}:`)).toBe(true);
        previous = row.timeline;
        read += 1;
      }
      if (page.isDone) break;
      cursor = page.continueCursor;
    }
    console.log(`paged read: ${read} events in ${pages} pages, largest page ${(largest / 1024 / 1024).toFixed(2)} MiB`);
    expect(read).toBe(EVENTS);
    expect(pages).toBe(Math.ceil(EVENTS / READ_PAGE_MAX));
    expect(largest).toBeLessThan(PAGE_BYTES_MAX);
  });
});
