// Registry repair, clash reports and the operator's reads (migrations-notes/
// 0005): each rule and each refusal of the note, and the three new reads.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { READ_PAGE_MAX } from "../limits";
import {
  NOW,
  apply,
  applied,
  events,
  internal,
  plain,
  rejected,
  rows,
  setup,
  timelineKey,
  waiting,
  type T,
} from "./harness.helpers";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

async function device(t: T, deviceId: string) {
  return (await rows(t, "productionDevices")).find((d) => d.deviceId === deviceId)!;
}

async function camera(t: T, sessionKey: string, cameraKey: string) {
  return (await rows(t, "productionCameras")).find((c) => c.sessionKey === sessionKey && c.cameraKey === cameraKey)!;
}

async function receipt(t: T, eventId: string) {
  return t.query(internal.ledger.receipt, { eventId });
}

/** A live session s1 with cameras A (d1) and B (d2); d3, d4 registered, free. */
async function rig(t: T) {
  const e = events();
  const v = await apply(t, [
    e.register("d1"),
    e.register("d2"),
    e.register("d3"),
    e.register("d4"),
    e.start("s1"),
    e.join("s1", "A", "d1", { role: "hero", placement: { x: 1 }, clockOffsetMs: 7 }),
    e.join("s1", "B", "d2"),
  ]);
  expect(v.map((x) => x.verdict)).toEqual(Array(7).fill("applied"));
  return e;
}

describe("retire / reinstate / rename", () => {
  test("a retired device's join is device_retired; the retirement is the event's", async () => {
    const t = setup();
    const e = await rig(t);
    const retire = e.retire("d3", { reason: "screen cracked" });
    const join = e.join("s1", "C", "d3");
    const d3 = await device(t, "d3");
    expect(await apply(t, [retire, join])).toEqual([
      applied(retire.eventId, { productionDevices: d3._id }),
      rejected(join.eventId, "device_retired", `device d3 is retired (by event ${retire.eventId})`),
    ]);
    const row = await device(t, "d3");
    expect(row.retirement).toEqual({
      at: retire.at, receivedAt: retire.receivedAt, reason: "screen cracked", eventId: retire.eventId,
    });
    expect(row.timelines.retirement).toBe(timelineKey(retire));
    // Not lastSeenAt, not the registration's fields.
    expect([row.lastSeenAt, row.lastEventId]).toEqual([d3.lastSeenAt, d3.lastEventId]);
    expect((await rows(t, "productionCameras")).map((c) => c.cameraKey).sort()).toEqual(["A", "B"]);
    // The receipt carries the device.
    expect((await receipt(t, retire.eventId))?.deviceId).toBe("d3");
  });

  test("a join earlier in the timeline than the retirement stays applied, in either delivery order", async () => {
    for (const order of ["join first", "retire first"]) {
      const t = setup();
      const e = await rig(t);
      const join = e.join("s1", "C", "d3");
      const retire = e.retire("d3");
      const v = await apply(t, order === "join first" ? [join, retire] : [retire, join]);
      expect(v.map((x) => x.verdict), order).toEqual(["applied", "applied"]);
      expect((await camera(t, "s1", "C")).deviceId, order).toBe("d3");
      expect((await device(t, "d3")).retirement?.eventId, order).toBe(retire.eventId);
    }
  });

  test("retire and reinstate commute: the latest in the timeline wins, whatever the delivery order", async () => {
    const results: unknown[] = [];
    for (const reversed of [false, true]) {
      const t = setup();
      const e = await rig(t);
      const retire = e.retire("d3", { reason: "lost" });
      const reinstate = e.reinstate("d3");
      const v = await apply(t, reversed ? [reinstate, retire] : [retire, reinstate]);
      expect(v.map((x) => x.verdict)).toEqual(["applied", "applied"]);
      const row = await device(t, "d3");
      expect(row.retirement).toBeNull();
      expect(row.timelines.retirement).toBe(timelineKey(reinstate));
      const { updatedAt: _, ...rest } = plain(row);
      results.push(rest);
      // Reinstated: it joins again.
      expect((await apply(t, [e.join("s1", "C", "d3")]))[0].verdict).toBe("applied");
    }
    expect(results[1]).toEqual(results[0]);

    // The other way round in the timeline: retired, whatever the order.
    for (const reversed of [false, true]) {
      const t = setup();
      const e = await rig(t);
      const reinstate = e.reinstate("d3");
      const retire = e.retire("d3");
      await apply(t, reversed ? [retire, reinstate] : [reinstate, retire]);
      expect((await device(t, "d3")).retirement?.eventId).toBe(retire.eventId);
    }
  });

  test("rename sets the label latest-wins; a later registration changes neither label nor retirement", async () => {
    const t = setup();
    const e = await rig(t);
    const first = e.rename("d1", "Cam A phone");
    const second = e.rename("d1", "Ana's spare");
    const retire = e.retire("d1");
    expect((await apply(t, [second, first, retire])).map((x) => x.verdict)).toEqual(["applied", "applied", "applied"]);
    expect((await device(t, "d1")).label).toBe("Ana's spare");

    const reg = e.register("d1", { name: "iPhone (new name)", appVersion: "3.0" });
    expect((await apply(t, [reg]))[0].verdict).toBe("applied");
    const row = await device(t, "d1");
    expect([row.name, row.appVersion, row.label, row.retirement?.eventId, row.lastEventId]).toEqual([
      "iPhone (new name)", "3.0", "Ana's spare", retire.eventId, reg.eventId,
    ]);
  });

  test("retire, reinstate and rename of an unknown device: device_not_found at once (never waiting)", async () => {
    const t = setup();
    const e = await rig(t);
    const evs = [e.retire("d9"), e.reinstate("d9"), e.rename("d9", "ghost")];
    expect(await apply(t, evs)).toEqual(
      evs.map((x) => rejected(x.eventId, "device_not_found", "device d9 is not registered")),
    );
    // Its registration later changes none of them: they were settled.
    await apply(t, [e.register("d9")]);
    const row = await device(t, "d9");
    expect([row.retirement, row.label]).toEqual([undefined, undefined]);
  });

  test("a label and a reason are bounded; empty ids are invalid", async () => {
    const t = setup();
    const e = await rig(t);
    const evs = [
      e.rename("d1", ""),
      e.rename("d1", "x".repeat(201)),
      e.retire("d1", { reason: "r".repeat(501) }),
      e.replace("s1", "A", "d3", { reason: "r".repeat(501) }),
      e.resolve("hw-1", ""),
      e.resolve("", "d1"),
    ];
    expect((await apply(t, evs)).map((x) => [x.verdict, x.code, x.message])).toEqual([
      ["rejected", "invalid_event", "label must be 1..200 characters"],
      ["rejected", "invalid_event", "label must be 1..200 characters"],
      ["rejected", "invalid_event", "reason is 501 characters, at most 500"],
      ["rejected", "invalid_event", "reason is 501 characters, at most 500"],
      ["rejected", "invalid_event", "ownerDeviceId must not be empty"],
      ["rejected", "invalid_event", "hardwareId must not be empty (omit it)"],
    ]);
    const ok = [e.rename("d1", "x".repeat(200)), e.retire("d2", { reason: "r".repeat(500) })];
    expect((await apply(t, ok)).map((x) => x.verdict)).toEqual(["applied", "applied"]);
  });
});

describe("clash reports and resolve_clash", () => {
  /** d1 holds hw-1; d2 (registered without one) and d5 (not registered) claim it. */
  async function clash(t: T) {
    const e = events();
    const holder = e.register("d1", { hardwareId: "hw-1" });
    const plainD2 = e.register("d2");
    const claim2 = e.register("d2", { hardwareId: "hw-1", name: "Second phone", platform: "android" });
    const claim5 = e.register("d5", { hardwareId: "hw-1" });
    const v = await apply(t, [holder, plainD2, claim2, claim5]);
    expect(v.map((x) => [x.verdict, x.code ?? null])).toEqual([
      ["applied", null],
      ["applied", null],
      ["rejected", "hardware_id_conflict"],
      ["rejected", "hardware_id_conflict"],
    ]);
    return { e, claim2, claim5 };
  }

  test("a conflicting registration is still refused, and writes a clash report, visible in ledger:clashes and ledger:device", async () => {
    const t = setup();
    const { claim2, claim5 } = await clash(t);
    const report = (c: typeof claim2) => ({
      hardwareId: "hw-1", holderDeviceId: "d1", claimantDeviceId: c.deviceId, eventId: c.eventId,
      at: c.at, receivedAt: c.receivedAt, timeline: timelineKey(c), name: c.name, platform: c.platform, open: true,
    });
    const open = await t.query(internal.ledger.clashes, { open: true, paginationOpts: { numItems: 10, cursor: null } });
    expect(open.page.map(plain)).toEqual([report(claim2), report(claim5)]);
    expect(open.isDone).toBe(true);
    expect((await t.query(internal.ledger.clashes, { open: false, paginationOpts: { numItems: 10, cursor: null } })).page).toEqual([]);

    const d1 = await t.query(internal.ledger.device, { deviceId: "d1" });
    expect(d1.clashes.map((c) => c.eventId)).toEqual([claim2.eventId, claim5.eventId]);
    const d5 = await t.query(internal.ledger.device, { deviceId: "d5" });
    expect(d5.device).toBeNull();
    expect(d5.clashes.map((c) => c.eventId)).toEqual([claim5.eventId]);
    expect(d5.receipts.map((r) => [r.eventId, r.verdict, r.code])).toEqual([[claim5.eventId, "rejected", "hardware_id_conflict"]]);
    // The refused registration changed nothing of d2.
    expect((await device(t, "d2")).hardwareId).toBeUndefined();
  });

  test("resolved for the holder: every open report closes, the holder keeps it; retireOthers retires the registered claimants", async () => {
    const t = setup();
    const { e } = await clash(t);
    const resolve = e.resolve("hw-1", "d1", true);
    const v = await apply(t, [resolve]);
    expect(v[0].verdict).toBe("applied");
    const reports = await rows(t, "productionDeviceClashes");
    expect(reports.map((r) => [r.open, r.resolvedBy, r.ownerDeviceId])).toEqual([
      [false, resolve.eventId, "d1"],
      [false, resolve.eventId, "d1"],
    ]);
    const d1 = await device(t, "d1");
    expect([d1.hardwareId, d1.retirement]).toEqual(["hw-1", undefined]);
    expect((await device(t, "d2")).retirement).toEqual({
      at: resolve.at, receivedAt: resolve.receivedAt, reason: "hardware id hw-1 belongs to d1", eventId: resolve.eventId,
    });
    expect((await receipt(t, resolve.eventId))?.deviceId).toBe("d1");
    // Nothing open any more: a second resolution finds nothing.
    const again = e.resolve("hw-1", "d2");
    expect(await apply(t, [again])).toEqual([rejected(again.eventId, "clash_not_found", "no open clash report of hardware id hw-1")]);
    // A new claim opens a new report.
    const claim = e.register("d2", { hardwareId: "hw-1" });
    expect((await apply(t, [claim]))[0].code).toBe("hardware_id_conflict");
    const open = await t.query(internal.ledger.clashes, { open: true, paginationOpts: { numItems: 10, cursor: null } });
    expect(open.page.map((r) => r.eventId)).toEqual([claim.eventId]);
  });

  test("resolved for a claimant: the holder loses the hardware id; the claimant registers again and succeeds; retireOthers retires the holder", async () => {
    const t = setup();
    const { e } = await clash(t);
    const stale = e.register("d1", { hardwareId: "hw-1", name: "stale" }); // accepted now, delivered late
    const resolve = e.resolve("hw-1", "d5", true);
    expect((await apply(t, [resolve]))[0].verdict).toBe("applied");
    const d1 = await device(t, "d1");
    expect("hardwareId" in d1).toBe(false);
    expect(d1.timelines.hardwareId).toBe(timelineKey(resolve));
    expect(d1.retirement).toEqual({
      at: resolve.at, receivedAt: resolve.receivedAt, reason: "hardware id hw-1 belongs to d5", eventId: resolve.eventId,
    });
    expect((await device(t, "d2")).retirement?.reason).toBe("hardware id hw-1 belongs to d5");

    // An older registration of the holder, delivered after, does not put it back.
    expect((await apply(t, [{ ...stale, receivedAt: resolve.receivedAt - 1 }]))[0].verdict).toBe("applied");
    // (Its other fields are the latest registration's, as ever.)
    expect((await device(t, "d1")).hardwareId).toBeUndefined();
    expect((await device(t, "d1")).name).toBe("stale");

    // The owner (not registered) registers again, and now succeeds.
    const again = e.register("d5", { hardwareId: "hw-1" });
    expect((await apply(t, [again]))[0].verdict).toBe("applied");
    expect((await device(t, "d5")).hardwareId).toBe("hw-1");
    expect((await device(t, "d5")).retirement).toBeUndefined();
  });

  test("resolved for a registered claimant: its row gets the hardware id at once", async () => {
    const t = setup();
    const { e } = await clash(t);
    const resolve = e.resolve("hw-1", "d2");
    const v = await apply(t, [resolve]);
    const d2 = await device(t, "d2");
    expect(v[0].ledgerIds?.productionDevices).toBe(d2._id);
    expect([d2.hardwareId, d2.timelines.hardwareId]).toEqual(["hw-1", timelineKey(resolve)]);
    expect((await device(t, "d1")).hardwareId).toBeUndefined();
    // Not retireOthers: nobody retired.
    expect((await rows(t, "productionDevices")).map((d) => d.retirement)).toEqual([undefined, undefined]);
  });

  test("clash_not_found without an open report; device_not_in_clash for a device that is no party", async () => {
    const t = setup();
    const { e } = await clash(t);
    const none = e.resolve("hw-9", "d1");
    expect(await apply(t, [none])).toEqual([rejected(none.eventId, "clash_not_found", "no open clash report of hardware id hw-9")]);
    const stranger = e.resolve("hw-1", "d7");
    expect(await apply(t, [stranger])).toEqual([
      rejected(stranger.eventId, "device_not_in_clash", "device d7 is no party to the clash of hardware id hw-1"),
    ]);
    expect((await rows(t, "productionDeviceClashes")).map((r) => r.open)).toEqual([true, true]);
  });
});

describe("replace_camera_device", () => {
  test("applied: the camera's device changes, it keeps the rest; the new device's placements apply to it; the old device is free", async () => {
    const t = setup();
    const e = await rig(t);
    const before = await camera(t, "s1", "A");
    const replace = e.replace("s1", "A", "d3", { reason: "battery died" });
    expect(await apply(t, [replace])).toEqual([applied(replace.eventId, { productionCameras: before._id })]);
    const after = await camera(t, "s1", "A");
    const { deviceId: _d, replaced, updatedAt: _u, ...kept } = plain(after) as typeof after;
    const { deviceId: _d0, updatedAt: _u0, ...was } = plain(before) as typeof before;
    expect(kept).toEqual(was);
    expect(after.deviceId).toBe("d3");
    expect(replaced).toEqual([
      { deviceId: "d1", byDeviceId: "d3", at: replace.at, receivedAt: replace.receivedAt, eventId: replace.eventId, reason: "battery died" },
    ]);
    const r = await receipt(t, replace.eventId);
    expect([r?.deviceId, r?.sessionKey]).toEqual(["d3", "s1"]);

    // In the same batch as later events: the cache knows the camera moved.
    const place3 = e.place("s1", "d3", { x: 5 }, { clockOffsetMs: -3 });
    const place1 = e.place("s1", "d1", { x: 6 });
    const start2 = e.start("s2");
    const join2 = e.join("s2", "A", "d1");
    const cut = e.cut("s1", "A");
    const v = await apply(t, [place3, place1, start2, join2, cut]);
    expect(v.map((x) => x.verdict)).toEqual(["applied", "waiting", "applied", "applied", "applied"]);
    expect(v[1].waitingFor).toEqual({ kind: "member", key: "s1/d1" });
    const a = await camera(t, "s1", "A");
    expect([a.deviceId, a.placement, a.placementVersion, a.clockOffsetMs]).toEqual(["d3", { x: 5 }, 2, -3]);
    const placements = (await rows(t, "productionCameraPlacements")).filter((p) => p.cameraKey === "A" && p.sessionKey === "s1");
    expect(placements.map((p) => [p.deviceId, p.version, p.clockOffsetMs])).toEqual([["d1", 1, 7], ["d3", 2, -3]]);
    expect((await camera(t, "s2", "A")).deviceId).toBe("d1");

    // ledger:device of each.
    const d3 = await t.query(internal.ledger.device, { deviceId: "d3" });
    expect(d3.cameras.map((c) => `${c.sessionKey}/${c.cameraKey}`)).toEqual(["s1/A"]);
    expect(d3.placements.map((p) => p.eventId)).toEqual([place3.eventId]);
    expect(d3.receipts.map((x) => x.eventId)).toContain(replace.eventId);
    const d1 = await t.query(internal.ledger.device, { deviceId: "d1" });
    expect(d1.cameras.map((c) => `${c.sessionKey}/${c.cameraKey}`)).toEqual(["s2/A"]);
  });

  test("a placement of the new device that came first waits for it, and applies with the replacement", async () => {
    const t = setup();
    const e = await rig(t);
    const place = e.place("s1", "d3", { panDeg: 20 });
    const replace = e.replace("s1", "A", "d3");
    expect((await apply(t, [place]))[0].waitingFor).toEqual({ kind: "member", key: "s1/d3" });
    expect((await apply(t, [replace]))[0].verdict).toBe("applied");
    expect((await receipt(t, place.eventId))?.verdict).toBe("applied");
    expect((await camera(t, "s1", "A")).placement).toEqual({ panDeg: 20 });
  });

  test("waits for a new device that is not registered, and applies when it registers", async () => {
    const t = setup();
    const e = await rig(t);
    const replace = e.replace("s1", "A", "d9");
    expect(await apply(t, [replace])).toEqual([
      waiting(replace.eventId, "device", "d9", "device_not_found", "device d9 is not registered"),
    ]);
    expect((await apply(t, [e.register("d9")]))[0].verdict).toBe("applied");
    expect((await receipt(t, replace.eventId))?.verdict).toBe("applied");
    expect((await camera(t, "s1", "A")).deviceId).toBe("d9");
  });

  test("a retired new device is device_retired", async () => {
    const t = setup();
    const e = await rig(t);
    const retire = e.retire("d3");
    const replace = e.replace("s1", "A", "d3");
    expect((await apply(t, [retire, replace]))[1]).toEqual(
      rejected(replace.eventId, "device_retired", `device d3 is retired (by event ${retire.eventId})`),
    );
    expect((await camera(t, "s1", "A")).deviceId).toBe("d1");
  });

  test("a device that already is a camera of the session, the replaced one included, is device_already_in_session", async () => {
    const t = setup();
    const e = await rig(t);
    const other = e.replace("s1", "A", "d2");
    const itself = e.replace("s1", "A", "d1");
    expect(await apply(t, [other, itself])).toEqual([
      rejected(other.eventId, "device_already_in_session", "device d2 already is camera B of session s1"),
      rejected(itself.eventId, "device_already_in_session", "device d1 already is camera A of session s1"),
    ]);
  });

  test("a completed session is session_completed, also for a replacement accepted before the completion", async () => {
    const t = setup();
    const e = await rig(t);
    const early = e.replace("s1", "A", "d3");
    const complete = e.complete("s1");
    const late = e.replace("s1", "B", "d4");
    const v = await apply(t, [complete, late, early]);
    expect(v.slice(1)).toEqual([
      rejected(late.eventId, "session_completed", "session s1 is completed; it takes no more writes"),
      rejected(early.eventId, "session_completed", "session s1 is completed; it takes no more writes"),
    ]);
  });

  test("waits for its session and for its camera, then applies", async () => {
    const t = setup();
    const e = await rig(t);
    const replace = e.replace("s1", "C", "d3");
    const noSession = e.replace("s2", "A", "d4");
    expect(await apply(t, [replace, noSession])).toEqual([
      waiting(replace.eventId, "camera", "s1/C", "camera_not_in_session", "camera C has not joined session s1"),
      waiting(noSession.eventId, "session", "s2", "session_not_found", "session s2 does not exist"),
    ]);
    // The camera's join (accepted earlier) comes.
    const join = { ...e.join("s1", "C", "d4"), receivedAt: replace.receivedAt - 10 };
    expect((await apply(t, [join]))[0].verdict).toBe("applied");
    expect((await receipt(t, replace.eventId))?.verdict).toBe("applied");
    expect((await camera(t, "s1", "C")).deviceId).toBe("d3");
    expect((await camera(t, "s1", "C")).replaced?.map((r) => r.deviceId)).toEqual(["d4"]);
  });

  test("a new device busy in another live session waits for it to be free", async () => {
    const t = setup();
    const e = await rig(t);
    await apply(t, [e.start("s2"), e.join("s2", "A", "d3")]);
    const replace = e.replace("s1", "A", "d3");
    expect(await apply(t, [replace])).toEqual([
      waiting(replace.eventId, "device_free", "d3", "device_in_other_session", "device d3 is camera A of live session s2"),
    ]);
    await apply(t, [e.complete("s2")]);
    expect((await receipt(t, replace.eventId))?.verdict).toBe("applied");
    expect((await camera(t, "s1", "A")).deviceId).toBe("d3");
  });

  test("a device that took over a camera is busy from the replacement on, for joins of other sessions", async () => {
    const t = setup();
    const e = await rig(t);
    await apply(t, [e.replace("s1", "A", "d3"), e.start("s2")]);
    const join = e.join("s2", "A", "d3");
    expect((await apply(t, [join]))[0].waitingFor).toEqual({ kind: "device_free", key: "d3" });
  });
});

describe("ledger:sessions", () => {
  test("newest startedAt first, paged; filtered by status and by an inclusive startedAt range", async () => {
    const t = setup();
    const e = events();
    const starts = ["s1", "s2", "s3", "s4", "s5"].map((s) => e.start(s, `Shoot ${s}`));
    await apply(t, [...starts, e.complete("s2"), e.complete("s4")]);
    const read = async (args: Record<string, unknown>, numItems = 2) => {
      const out: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      for (;;) {
        const page: { page: { sessionKey: string }[]; isDone: boolean; continueCursor: string } = await t.query(
          internal.ledger.sessions,
          { ...args, paginationOpts: { numItems, cursor } },
        );
        expect(page.page.length).toBeLessThanOrEqual(numItems);
        out.push(...page.page.map((s) => s.sessionKey));
        pages += 1;
        if (page.isDone) return { out, pages };
        cursor = page.continueCursor;
      }
    };
    expect(await read({})).toEqual({ out: ["s5", "s4", "s3", "s2", "s1"], pages: 3 });
    expect((await read({ status: "live" })).out).toEqual(["s5", "s3", "s1"]);
    expect((await read({ status: "completed" })).out).toEqual(["s4", "s2"]);
    const at = (i: number) => starts[i].at;
    expect((await read({ startedFrom: at(1), startedTo: at(3) })).out).toEqual(["s4", "s3", "s2"]);
    expect((await read({ startedFrom: at(3) })).out).toEqual(["s5", "s4"]);
    expect((await read({ startedTo: at(0) })).out).toEqual(["s1"]);
    expect((await read({ status: "live", startedFrom: at(1), startedTo: at(4) })).out).toEqual(["s5", "s3"]);
    // A page asks for at most READ_PAGE_MAX.
    const big = await t.query(internal.ledger.sessions, { paginationOpts: { numItems: 10_000, cursor: null } });
    expect(big.page.map((s) => s.sessionKey)).toEqual(["s5", "s4", "s3", "s2", "s1"]);
  });
});

describe("ledger:clashes", () => {
  test("paged, in timeline order of the refused registrations, open or resolved", async () => {
    const t = setup();
    const e = events();
    const claims = [
      e.register("d1", { hardwareId: "hw-a" }),
      e.register("d2", { hardwareId: "hw-b" }),
      e.register("c1", { hardwareId: "hw-a" }),
      e.register("c2", { hardwareId: "hw-b" }),
      e.register("c3", { hardwareId: "hw-a" }),
    ];
    // Delivered out of order: the refusals are still listed by timeline.
    await apply(t, [claims[0], claims[1], claims[4], claims[3], claims[2]]);
    const page1 = await t.query(internal.ledger.clashes, { open: true, paginationOpts: { numItems: 2, cursor: null } });
    expect(page1.page.map((c) => c.claimantDeviceId)).toEqual(["c1", "c2"]);
    expect(page1.isDone).toBe(false);
    const page2 = await t.query(internal.ledger.clashes, { open: true, paginationOpts: { numItems: 2, cursor: page1.continueCursor } });
    expect(page2.page.map((c) => c.claimantDeviceId)).toEqual(["c3"]);

    await apply(t, [e.resolve("hw-a", "c3")]);
    const open = await t.query(internal.ledger.clashes, { open: true, paginationOpts: { numItems: 10, cursor: null } });
    const closed = await t.query(internal.ledger.clashes, { open: false, paginationOpts: { numItems: 10, cursor: null } });
    expect(open.page.map((c) => c.claimantDeviceId)).toEqual(["c2"]);
    expect(closed.page.map((c) => [c.claimantDeviceId, c.ownerDeviceId])).toEqual([["c1", "c3"], ["c3", "c3"]]);
  });
});

describe("ledger:device", () => {
  test("an unknown device: null and nothing", async () => {
    const t = setup();
    expect(await t.query(internal.ledger.device, { deviceId: "nope" })).toEqual({
      device: null, cameras: [], clashes: [], receipts: [], placements: [],
    });
  });

  test("its row, its cameras live or not, and its latest receipts and placements, oldest first, bounded", async () => {
    const t = setup();
    const e = events();
    await apply(t, [e.register("d1"), e.start("s1"), e.join("s1", "A", "d1"), e.complete("s1"), e.start("s2")]);
    const join2 = e.join("s2", "B", "d1", { clockOffsetMs: 4 });
    const places = Array.from({ length: READ_PAGE_MAX + 20 }, (_, i) => e.place("s2", "d1", { panDeg: i % 180 }, { clockOffsetMs: i }));
    await apply(t, [join2, ...places]);
    const got = await t.query(internal.ledger.device, { deviceId: "d1" });
    expect(got.device?.deviceId).toBe("d1");
    expect(got.cameras.map((c) => [c.sessionKey, c.cameraKey, c.live])).toEqual([["s1", "A", false], ["s2", "B", true]]);
    expect(got.receipts).toHaveLength(READ_PAGE_MAX);
    expect(got.receipts.map((r) => r.eventId)).toEqual(places.slice(-READ_PAGE_MAX).map((p) => p.eventId));
    expect(got.placements).toHaveLength(READ_PAGE_MAX);
    expect(got.placements.map((p) => p.eventId)).toEqual(places.slice(-READ_PAGE_MAX).map((p) => p.eventId));
    expect(got.placements.at(-1)?.clockOffsetMs).toBe(READ_PAGE_MAX + 19);
    expect(got.clashes).toEqual([]);
  });
});
