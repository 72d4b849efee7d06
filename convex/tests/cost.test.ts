// What a batch costs the deployment (migrations-notes/0003, "Cheap
// batches"), measured with convex-test's transaction accounting (the same
// counters real Convex limits: ctx.meta.getTransactionMetrics()).
//
// A realistic 500-event batch of one live session — cuts, cues, markers,
// notes, holds, stills, placements — must cost at most 2 documents written
// and 2 read per director event on average. These are counts, not timings:
// the same code always costs the same.
import { beforeEach, describe, expect, test, vi } from "vitest";
import type { WireEvent } from "../wire";
import { NOW, apply, events, internal, setup, type T } from "./harness.helpers";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

/** The documents and bytes one applyBatch call reads and writes. */
async function cost(t: T, batch: WireEvent[]) {
  return t.run(async (ctx) => {
    await ctx.runMutation(internal.ingest.applyBatch, { events: batch });
    return ctx.meta.getTransactionMetrics();
  });
}

/** A rig (4 cameras) and then `n` events of a shoot's usual mix. */
export function mix(n: number) {
  const e = events();
  const rig = [
    ...["d1", "d2", "d3", "d4"].map((d) => e.register(d)),
    e.start("s1"),
    ...["A", "B", "C", "D"].map((k, i) => e.join("s1", k, `d${i + 1}`, { placement: { x: i } })),
  ];
  const body: WireEvent[] = [];
  let hold = 0;
  let open = false;
  let still = 0;
  for (let i = 0; body.length < n; i++) {
    const cam = "ABCD"[i % 4];
    const k = i % 20;
    if (k < 8) body.push(e.cut("s1", cam));
    else if (k < 11) body.push(e.cue("s1", `cue ${i}`));
    else if (k < 13) body.push(e.marker("s1", `take ${i}`));
    else if (k < 14) body.push(e.note("s1", `note ${i}`));
    else if (k < 16) {
      if (open) body.push(e.holdEnd("s1", `h${hold}`));
      else body.push(e.holdStart("s1", `h${(hold += 1)}`, cam));
      open = !open;
    } else if (k < 18) body.push(e.still("s1", `st${(still += 1)}`, cam));
    else if (k < 19) body.push(e.uploaded("s1", `st${still}`, `s3://st${still}`));
    else body.push(e.place("s1", `d${(i % 4) + 1}`, { panDeg: i % 180 }));
  }
  return { rig, body };
}

const DIRECTOR = new Set(["cut", "hold_start", "hold_end", "cue", "marker", "note", "still_marker"]);

describe("cost of a batch", () => {
  test("a realistic 500-event batch: at most 2 documents written and 2 read per director event", async () => {
    const t = setup();
    const { rig, body } = mix(500);
    await apply(t, rig);
    const m = await cost(t, body);
    const director = body.filter((x) => DIRECTOR.has(x.type)).length;
    const perEvent = { written: m.documentsWritten.used / director, read: m.documentsRead.used / director };
    console.log(
      `cost: 500 events (${director} director events): ${m.documentsWritten.used} documents written, ` +
        `${m.documentsRead.used} read, ${m.bytesWritten.used} bytes written, ${m.bytesRead.used} read; ` +
        `per director event ${perEvent.written.toFixed(2)} written, ${perEvent.read.toFixed(2)} read`,
    );
    expect(perEvent.written).toBeLessThanOrEqual(2);
    expect(perEvent.read).toBeLessThanOrEqual(2);
  });

  test("the session's row is written once per batch, however many events touch it", async () => {
    const t = setup();
    const { rig, body } = mix(200);
    await apply(t, rig);
    // Measured directly: a batch of only cuts writes 1 row per cut (which is
    // its receipt too), plus the session once.
    const cuts = events(NOW - 1000).cut;
    const only = Array.from({ length: 100 }, (_, i) => ({ ...cuts("s1", "ABCD"[i % 4]), eventId: `c-${i}` }));
    const m = await cost(t, only);
    expect(m.documentsWritten.used).toBe(100 + 1);
  });
});
