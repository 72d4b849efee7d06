// Each ledger rule, each rejection code of ingest:applyBatch, and what waits
// instead of being rejected (migrations-notes/0003).
import { beforeEach, describe, expect, test, vi } from "vitest";
import {
  NOW,
  internal,
  apply,
  applied,
  bare,
  dump,
  duplicateOf,
  events,
  plain,
  readSession,
  rejected,
  rows,
  settleAll,
  setup,
  timelineKey,
  waiting,
  type T,
} from "./harness.helpers";
import type { Placement } from "../wire";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

/** A live session s1 with cameras A (d1) and B (d2). */
async function rig(t: T) {
  const e = events();
  const v = await apply(t, [
    e.register("d1"),
    e.register("d2"),
    e.register("d3"),
    e.start("s1"),
    e.join("s1", "A", "d1"),
    e.join("s1", "B", "d2"),
  ]);
  expect(v.map((x) => x.verdict)).toEqual(Array(6).fill("applied"));
  return e;
}

async function session(t: T, key = "s1") {
  return (await readSession(t, key))!;
}

describe("start_shoot", () => {
  test("creates a live photoshoot_performance session, then updates title/notes/location while live", async () => {
    const t = setup();
    const e = events();
    const first = e.start("s1", "Draft title", { notes: "n1", location: "Studio 1" });
    await apply(t, [first]);
    expect(plain((await session(t)).session)).toEqual({
      sessionKey: "s1", kind: "photoshoot_performance", status: "live",
      title: "Draft title", notes: "n1", location: "Studio 1",
      startedAt: first.at, startedReceivedAt: first.receivedAt, startEventId: first.eventId,
      updatedAt: NOW,
      counts: { cameras: 0, cuts: 0, holds: 0, stills: 0, cues: 0, events: 0, holdsClosedOnComplete: 0 },
    });
    const sessionId = (await session(t)).session._id;

    vi.setSystemTime(NOW + 1000);
    const v = await apply(t, [
      e.start("s1", "Final title", { location: "Rooftop" }), // notes omitted: kept
      e.start("s1", "Final title", { notes: "n2" }),
    ]);
    expect(v).toEqual([
      applied(e.id(2), { productionSessions: sessionId }),
      applied(e.id(3), { productionSessions: sessionId }),
    ]);
    const s = (await session(t)).session;
    expect([s.title, s.notes, s.location, s.startedAt, s.startEventId, s.updatedAt]).toEqual([
      "Final title", "n2", "Rooftop", first.at, first.eventId, NOW + 1000,
    ]);
    expect(await rows(t, "productionSessions")).toHaveLength(1);

    // A start accepted earlier than both (delivered late) changes neither the
    // title nor the notes, but it is the session's start now.
    const early = e.start("s1", "Earliest title", { notes: "n0", receivedAt: first.receivedAt - 1000 });
    await apply(t, [early]);
    const s2 = (await session(t)).session;
    expect([s2.title, s2.notes, s2.startedAt, s2.startEventId]).toEqual(["Final title", "n2", early.at, early.eventId]);
  });
});

describe("completed sessions", () => {
  test("every later write is session_completed; replays stay duplicates; nothing but receipts changes", async () => {
    const t = setup();
    const e = await rig(t);
    const before = await apply(t, [
      e.cut("s1", "A"),
      e.holdStart("s1", "h1", "A"),
      e.still("s1", "st1", "A"),
    ]);
    const complete = e.complete("s1");
    const done = await apply(t, [complete]);
    const snapshot = await dump(t);

    const late = [
      e.start("s1", "again"),
      e.complete("s1"),
      e.join("s1", "C", "d3"),
      e.join("s1", "A", "d1", { placement: { x: 1 } }),
      e.place("s1", "d1", { x: 2 }),
      e.cut("s1", "B"),
      e.holdStart("s1", "h2", "B"),
      e.holdEnd("s1", "h1"),
      e.cue("s1"),
      e.marker("s1"),
      e.note("s1"),
      e.still("s1", "st2", "A"),
      e.uploaded("s1", "st1", "s3://late"),
    ];
    const v = await apply(t, late);
    expect(v).toEqual([
      rejected(late[0].eventId, "session_completed", "session s1 is completed; it cannot be started again"),
      ...late.slice(1).map((ev) =>
        rejected(ev.eventId, "session_completed", "session s1 is completed; it takes no more writes"),
      ),
    ]);
    // Replays of events applied before completion: duplicates, not conflicts.
    const replay = await apply(t, [complete]);
    expect(replay).toEqual(done.map(duplicateOf));

    const after = await dump(t);
    const { ingestReceipts: r0, ...tables0 } = snapshot;
    const { ingestReceipts: r1, ...tables1 } = after;
    expect(tables1).toEqual(tables0);
    expect(r1).toHaveLength(r0.length + late.length);
    expect(before.map((x) => x.verdict)).toEqual(["applied", "applied", "applied"]);
  });

  test("completion frees the session's devices: they may join another live session", async () => {
    const t = setup();
    const e = await rig(t);
    const v1 = await apply(t, [e.start("s2"), e.join("s2", "A", "d1")]);
    expect(v1[1]).toEqual(
      waiting(e.id(8), "device_free", "d1", "device_in_other_session", "device d1 is camera A of live session s1"),
    );
    // The completion frees d1, and the waiting join is applied then.
    const v2 = await apply(t, [e.complete("s1"), e.join("s2", "A", "d1")]);
    expect(v2.map((x) => x.verdict)).toEqual(["applied", "applied"]);
    expect((await t.query(internal.ledger.receipt, { eventId: e.id(8) }))!.verdict).toBe("applied");
    const cams = await rows(t, "productionCameras");
    expect(cams.map((c) => [c.sessionKey, c.cameraKey, c.deviceId, c.live])).toEqual([
      ["s1", "A", "d1", false],
      ["s1", "B", "d2", false],
      ["s2", "A", "d1", true],
    ]);
  });
});

describe("session_not_found", () => {
  test("every session-scoped event on an unknown session", async () => {
    const t = setup();
    const e = events();
    await apply(t, [e.register("d1")]);
    const evs = [
      e.complete("zz"),
      e.join("zz", "A", "d1"),
      e.place("zz", "d1", { x: 0 }),
      e.cut("zz", "A"),
      e.holdStart("zz", "h", "A"),
      e.holdEnd("zz", "h"),
      e.cue("zz"),
      e.marker("zz"),
      e.note("zz"),
      e.still("zz", "st", "A"),
      e.uploaded("zz", "st", "ref"),
    ];
    const waits = evs.map((ev) => waiting(ev.eventId, "session", "zz", "session_not_found", "session zz does not exist"));
    expect(await apply(t, evs)).toEqual(waits);
    expect(await rows(t, "productionSessions")).toEqual([]);
    expect(await rows(t, "ingestReceipts")).toHaveLength(1 + evs.length);
    // No grace period can pass for a session that never completed: they wait.
    expect(await settleAll(t, evs.map((ev) => ev.eventId))).toEqual(waits);
  });

  test("waiting events are applied when their session starts, in timeline order, and what they bring wakes others", async () => {
    const t = setup();
    const e = events();
    const evs = [
      e.register("d1"),
      e.join("zz", "A", "d1"), // waits for zz; then brings camera A
      e.cut("zz", "A"),
      e.holdStart("zz", "h", "A"),
      e.holdEnd("zz", "h"),
      e.still("zz", "st", "A"),
      e.uploaded("zz", "st", "s3://st"),
    ];
    const first = await apply(t, evs);
    expect(first.slice(1).map((x) => [x.verdict, x.waitingFor])).toEqual([
      ["waiting", { kind: "session", key: "zz" }],
      ["waiting", { kind: "session", key: "zz" }],
      ["waiting", { kind: "session", key: "zz" }],
      ["waiting", { kind: "session", key: "zz" }],
      ["waiting", { kind: "session", key: "zz" }],
      ["waiting", { kind: "session", key: "zz" }],
    ]);
    // The session's start was accepted first, but arrives last.
    const start = e.start("zz", "Late start", { receivedAt: evs[0].receivedAt + 1 });
    expect((await apply(t, [start]))[0].verdict).toBe("applied");
    const receipts = await t.query(internal.ledger.receipts, { eventIds: [...evs, start].map((x) => x.eventId) });
    expect(receipts.map((r) => r!.verdict)).toEqual(Array(8).fill("applied"));
    expect(receipts.some((r) => r!.waitsFor !== undefined || r!.event !== undefined)).toBe(false);
    // Nothing is left waiting in the index either.
    expect((await rows(t, "ingestReceipts")).filter((r) => r.waitsFor !== undefined)).toEqual([]);
    const s = await session(t, "zz");
    expect(s.events.map((x) => x.type)).toEqual(["cut", "hold_start", "hold_end", "still"]);
    expect([s.session.heroCameraKey, s.session.counts]).toEqual([
      "A", { cameras: 1, cuts: 1, holds: 1, stills: 1, cues: 0, events: 4, holdsClosedOnComplete: 0 },
    ]);
    expect(s.events[1].holdOpen).toBe(false);
    expect(s.stills[0].uploadStatus).toBe("uploaded");
  });
});

describe("join_session", () => {
  test("device_not_found, camera_key_taken, device_already_in_session, device_in_other_session", async () => {
    const t = setup();
    const e = await rig(t);
    const v = await apply(t, [
      e.join("s1", "C", "ghost"),
      e.join("s1", "A", "d3"),
      e.join("s1", "C", "d1"),
      e.start("s2"),
      e.join("s2", "A", "d2"),
      e.join("s2", "A", "d3"), // fine: d3 is in no live session
    ]);
    expect(v.slice(0, 3)).toEqual([
      waiting(e.id(7), "device", "ghost", "device_not_found", "device ghost is not registered"),
      rejected(e.id(8), "camera_key_taken", "camera A of session s1 is held by device d1"),
      rejected(e.id(9), "device_already_in_session", "device d1 already is camera A of session s1"),
    ]);
    expect(v[4]).toEqual(
      waiting(e.id(11), "device_free", "d2", "device_in_other_session", "device d2 is camera B of live session s1"),
    );
    expect(v[5].verdict).toBe("applied");
    const cams = await rows(t, "productionCameras");
    expect(cams.map((c) => [c.sessionKey, c.cameraKey, c.deviceId])).toEqual([
      ["s1", "A", "d1"],
      ["s1", "B", "d2"],
      ["s2", "A", "d3"],
    ]);
    expect((await session(t)).session.counts.cameras).toBe(2);
    expect((await session(t, "s2")).session.counts.cameras).toBe(1);
  });

  test("re-joining the same session with the same cameraKey updates the camera in place", async () => {
    const t = setup();
    const e = await rig(t);
    const cam0 = (await rows(t, "productionCameras"))[0];
    const rejoin = e.join("s1", "A", "d1", { role: "close", clockOffsetMs: -7 });
    const v = await apply(t, [rejoin]);
    expect(v).toEqual([applied(rejoin.eventId, { productionCameras: cam0._id })]);
    const cams = await rows(t, "productionCameras");
    expect(cams).toHaveLength(2);
    expect(plain(cams[0])).toEqual({
      ...plain(cam0), role: "close", clockOffsetMs: -7, lastEventId: rejoin.eventId,
    });
    expect(cams[0].timelines).toEqual({
      ...cam0.timelines,
      role: timelineKey(rejoin),
      clockOffsetMs: timelineKey(rejoin),
      lastEventId: timelineKey(rejoin),
    });
    expect((await session(t)).session.counts.cameras).toBe(2);
  });
});

describe("placements", () => {
  test("every placement is a new version; the camera row keeps a copy of the latest", async () => {
    const t = setup();
    const e = await rig(t);
    const p1: Placement = { x: 1, y: 2, z: 0.5, panDeg: 10 };
    const p2: Placement = { x: 1.2, tiltDeg: -12.5, zoom: 1.5, orientation: "portrait" };
    const p3: Placement = { distanceM: 4, focalLengthMm: 85, notes: "low angle" };
    const p4: Placement = { heightM: 0.3, rollDeg: 3 };
    const evs = [
      e.place("s1", "d1", p1),
      e.place("s1", "d1", p2, { clockOffsetMs: 25 }),
      e.join("s1", "A", "d1", { role: "hero", placement: p3 }),
      e.join("s1", "A", "d1", { role: "hero" }), // no placement: version unchanged
      e.place("s1", "d2", p4),
    ];
    const v = await apply(t, evs);
    const cams = await rows(t, "productionCameras");
    const pl = await rows(t, "productionCameraPlacements");
    expect(v).toEqual([
      applied(evs[0].eventId, { productionCameras: cams[0]._id, productionCameraPlacements: pl[0]._id }),
      applied(evs[1].eventId, { productionCameras: cams[0]._id, productionCameraPlacements: pl[1]._id }),
      applied(evs[2].eventId, { productionCameras: cams[0]._id, productionCameraPlacements: pl[2]._id }),
      applied(evs[3].eventId, { productionCameras: cams[0]._id }),
      applied(evs[4].eventId, { productionCameras: cams[1]._id, productionCameraPlacements: pl[3]._id }),
    ]);
    const got = await session(t);
    expect(got.placements.map((p) => [p.cameraKey, p.version, p.placement, p.eventId])).toEqual([
      ["A", 1, p1, evs[0].eventId],
      ["A", 2, p2, evs[1].eventId],
      ["A", 3, p3, evs[2].eventId],
      ["B", 1, p4, evs[4].eventId],
    ]);
    expect(got.cameras.map((c) => [c.cameraKey, c.placementVersion, c.placement, c.clockOffsetMs, c.role])).toEqual([
      ["A", 3, p3, 25, "hero"],
      ["B", 1, p4, undefined, "wide"],
    ]);

    // A placement accepted before all of them, delivered last: it is version
    // 1 now, the others move up one, and the camera keeps the latest.
    const early = e.place("s1", "d1", { x: -3 }, { receivedAt: evs[0].receivedAt - 500 });
    await apply(t, [early]);
    const again = await session(t);
    expect(again.placements.filter((p) => p.cameraKey === "A").map((p) => [p.version, p.eventId])).toEqual([
      [1, early.eventId],
      [2, evs[0].eventId],
      [3, evs[1].eventId],
      [4, evs[2].eventId],
    ]);
    expect([again.cameras[0].placementVersion, again.cameras[0].placement]).toEqual([4, p3]);
  });

  test("range boundaries are accepted; values outside are placement_out_of_range and write nothing", async () => {
    const t = setup();
    const e = await rig(t);
    const edges: Placement = {
      x: -1000, y: 1000, z: 0, heightM: 100, distanceM: 0, panDeg: -180, tiltDeg: 90,
      rollDeg: 180, focalLengthMm: 1, zoom: 0.1, notes: "n".repeat(1000),
    };
    const edges2: Placement = { heightM: 0, distanceM: 1000, tiltDeg: -90, focalLengthMm: 2000, zoom: 200 };
    const ok = await apply(t, [e.place("s1", "d1", edges), e.place("s1", "d1", edges2)]);
    expect(ok.map((x) => x.verdict)).toEqual(["applied", "applied"]);

    const cases: Array<[Placement, string]> = [
      [{ x: -1000.01 }, "placement.x = -1000.01 is outside -1000..1000"],
      [{ y: 1001 }, "placement.y = 1001 is outside -1000..1000"],
      [{ z: 5000 }, "placement.z = 5000 is outside -1000..1000"],
      [{ heightM: -0.1 }, "placement.heightM = -0.1 is outside 0..100"],
      [{ heightM: 100.5 }, "placement.heightM = 100.5 is outside 0..100"],
      [{ distanceM: -1 }, "placement.distanceM = -1 is outside 0..1000"],
      [{ panDeg: 181 }, "placement.panDeg = 181 is outside -180..180"],
      [{ tiltDeg: -90.5 }, "placement.tiltDeg = -90.5 is outside -90..90"],
      [{ rollDeg: -181 }, "placement.rollDeg = -181 is outside -180..180"],
      [{ focalLengthMm: 0.5 }, "placement.focalLengthMm = 0.5 is outside 1..2000"],
      [{ focalLengthMm: 2001 }, "placement.focalLengthMm = 2001 is outside 1..2000"],
      [{ zoom: 0.05 }, "placement.zoom = 0.05 is outside 0.1..200"],
      [{ zoom: 201 }, "placement.zoom = 201 is outside 0.1..200"],
      [{ panDeg: NaN }, "placement.panDeg = NaN is outside -180..180"],
      [{ x: Infinity }, "placement.x = Infinity is outside -1000..1000"],
      [{ x: 1, tiltDeg: 91 }, "placement.tiltDeg = 91 is outside -90..90"],
      [{ notes: "n".repeat(1001) }, "placement.notes is 1001 characters, at most 1000"],
    ];
    const before = await dump(t);
    const updates = cases.map(([p]) => e.place("s1", "d1", p));
    const joins = cases.map(([p]) => e.join("s1", "C", "d3", { placement: p }));
    const v = await apply(t, [...updates, ...joins]);
    expect(v).toEqual([
      ...cases.map(([, msg], i) => rejected(updates[i].eventId, "placement_out_of_range", msg)),
      ...cases.map(([, msg], i) => rejected(joins[i].eventId, "placement_out_of_range", msg)),
    ]);
    const after = await dump(t);
    const { ingestReceipts: _r0, ...t0 } = before;
    const { ingestReceipts: _r1, ...t1 } = after;
    expect(t1).toEqual(t0);
    const camA = (await session(t)).cameras[0];
    expect([camA.placementVersion, camA.placement]).toEqual([2, edges2]);
  });

  test("an empty placement is invalid_event; update_placement by a device without a camera is camera_not_in_session", async () => {
    const t = setup();
    const e = await rig(t);
    const v = await apply(t, [
      e.place("s1", "d1", {}),
      e.join("s1", "C", "d3", { placement: {} }),
      e.place("s1", "d3", { x: 1 }),
    ]);
    expect(v).toEqual([
      rejected(e.id(7), "invalid_event", "placement must have at least one field"),
      rejected(e.id(8), "invalid_event", "placement must have at least one field"),
      waiting(e.id(9), "member", "s1/d3", "camera_not_in_session", "device d3 holds no camera in session s1"),
    ]);
    expect(await rows(t, "productionCameraPlacements")).toEqual([]);
  });
});

describe("cut and the hero feed", () => {
  test("heroCameraKey follows the last applied cut; rejected cuts leave it alone", async () => {
    const t = setup();
    const e = await rig(t);
    const hero = async () => (await session(t)).session.heroCameraKey;
    expect(await hero()).toBeUndefined();
    await apply(t, [e.cut("s1", "A")]);
    expect(await hero()).toBe("A");
    const v = await apply(t, [
      e.cut("s1", "B", { fromCameraKey: "A", transition: "fade", transitionMs: 250 }),
      e.cut("s1", "C"),
      e.cut("s1", "A", { fromCameraKey: "Q" }),
      e.cut("s1", "A", { transitionMs: -1 }),
    ]);
    expect(v.slice(1)).toEqual([
      waiting(e.id(9), "camera", "s1/C", "camera_not_in_session", "camera C has not joined session s1"),
      waiting(e.id(10), "camera", "s1/Q", "camera_not_in_session", "camera Q has not joined session s1"),
      rejected(e.id(11), "invalid_event", "transitionMs must be a finite number >= 0"),
    ]);
    expect(await hero()).toBe("B");
    await apply(t, [e.cut("s1", "A", { transition: "cut" })]);
    const s = await session(t);
    expect(s.session.heroCameraKey).toBe("A");
    expect(s.session.counts.cuts).toBe(3);
    expect(s.events.map((x) => [x.cameraKey, x.fromCameraKey, x.transition, x.transitionMs])).toEqual([
      ["A", undefined, undefined, undefined],
      ["B", "A", "fade", 250],
      ["A", undefined, "cut", undefined],
    ]);

    // A cut accepted before the last one, delivered after it, is counted but
    // does not take the hero feed: that is the latest cut in timeline order.
    const stale = e.cut("s1", "B", { receivedAt: s.events[2].receivedAt - 1 });
    await apply(t, [stale]);
    const s2 = await session(t);
    expect([s2.session.heroCameraKey, s2.session.counts.cuts]).toEqual(["A", 4]);
    expect(s2.events.map((x) => x.cameraKey)).toEqual(["A", "B", "B", "A"]);
  });
});

describe("holds", () => {
  test("paired by holdId: hold_not_open, hold_already_open, camera_not_in_session, re-open after close", async () => {
    const t = setup();
    const e = await rig(t);
    const evs = [
      e.holdEnd("s1", "h1"), // 7: nothing open
      e.holdStart("s1", "h1", "A"), // 8: seq 1
      e.holdStart("s1", "h1", "B"), // 9: already open
      e.holdStart("s1", "h2", "Z"), // 10: no such camera
      e.holdEnd("s1", "h1"), // 11: seq 2
      e.holdEnd("s1", "h1"), // 12: closed now
      e.holdStart("s1", "h1", "B"), // 13: seq 3, same id re-opened
    ];
    const v = await apply(t, evs);
    const director = await rows(t, "productionDirectorEvents");
    const de = (i: number) => director.find((d) => d.eventId === e.id(i))!._id;
    // Event 9 (a second start of the open hold) waits: an end accepted
    // between 8 and 9 may still arrive. It never does here: 11 comes after 9
    // in the timeline, so 9 still waits, and 13 opens h1 again after 11.
    const notOpen = (i: number) => waiting(e.id(i), "hold", "s1/h1", "hold_not_open", "hold h1 is not open in session s1");
    const verdicts = [
      notOpen(7),
      applied(e.id(8), { productionDirectorEvents: de(8) }),
      waiting(e.id(9), "hold", "s1/h1", "hold_already_open", `hold h1 is already open (started by event ${e.id(8)})`),
      waiting(e.id(10), "camera", "s1/Z", "camera_not_in_session", "camera Z has not joined session s1"),
      applied(e.id(11), { productionDirectorEvents: de(11) }),
      notOpen(12),
      applied(e.id(13), { productionDirectorEvents: de(13) }),
    ];
    // Within the batch, 9 and 12 were replayed again as 11 and 13 came.
    const receipts = await t.query(internal.ledger.receipts, { eventIds: evs.map((x) => x.eventId) });
    expect(receipts.map((r) => [r!.verdict, r!.code])).toEqual(verdicts.map((x) => [x.verdict, x.code]));
    expect(v.map((x) => x.verdict)).toEqual(["waiting", "applied", "waiting", "waiting", "applied", "waiting", "applied"]);
    expect(director.map((d) => [d.timeline, d.type, d.holdId, d.cameraKey, d.holdOpen, d.holdStartEventId])).toEqual([
      [timelineKey(evs[1]), "hold_start", "h1", "A", false, undefined],
      [timelineKey(evs[4]), "hold_end", "h1", "A", undefined, e.id(8)],
      [timelineKey(evs[6]), "hold_start", "h1", "B", true, undefined],
    ]);
    // Once the session completes and its grace period passes, what still
    // waits is rejected with its code.
    await apply(t, [e.complete("s1")]);
    const settled = await settleAll(t, evs.map((x) => x.eventId));
    expect(settled.map((x) => [x.verdict, "code" in x ? x.code : undefined])).toEqual([
      ["rejected", "hold_not_open"],
      ["applied", undefined],
      ["rejected", "hold_already_open"],
      ["rejected", "camera_not_in_session"],
      ["applied", undefined],
      ["rejected", "hold_not_open"],
      ["applied", undefined],
    ]);
    expect(director[1].holdDurationMs).toBe(evs[4].at - evs[1].at);
    expect([director[0].holdClosedAt, director[0].holdClosedBy, director[0].holdCloseEventId]).toEqual([
      evs[4].at, "hold_end", e.id(11),
    ]);
  });

  test("holds are per session: the same holdId in two sessions is two holds", async () => {
    const t = setup();
    const e = await rig(t);
    const v = await apply(t, [
      e.start("s2"),
      e.join("s2", "X", "d3"),
      e.holdStart("s1", "h", "A"),
      e.holdStart("s2", "h", "X"),
      e.holdEnd("s2", "h"),
      e.holdEnd("s2", "h"),
    ]);
    expect(v.map((x) => x.verdict)).toEqual(["applied", "applied", "applied", "applied", "applied", "waiting"]);
    expect(v[5].code).toBe("hold_not_open");
    expect((await session(t)).events.map((x) => [x.type, x.holdOpen])).toEqual([["hold_start", true]]);
  });

  test("complete_session closes every open hold and counts them in the summary", async () => {
    const t = setup();
    const e = await rig(t);
    const evs = [
      e.holdStart("s1", "h1", "A"),
      e.holdStart("s1", "h2", "B"),
      e.holdStart("s1", "h3", "A"),
      e.holdEnd("s1", "h2"),
      e.complete("s1"),
    ];
    await apply(t, evs);
    const s = await session(t);
    expect(
      s.events.map((x) => [x.holdId, x.type, x.holdOpen, x.holdClosedBy, x.holdClosedAt, x.holdCloseEventId]),
    ).toEqual([
      ["h1", "hold_start", false, "complete_session", evs[4].at, evs[4].eventId],
      ["h2", "hold_start", false, "hold_end", evs[3].at, evs[3].eventId],
      ["h3", "hold_start", false, "complete_session", evs[4].at, evs[4].eventId],
      ["h2", "hold_end", undefined, undefined, undefined, undefined],
    ]);
    // The end of h1, accepted before the completion, delivered after it:
    // h1 was closed by its end, not by the completion, and the summary says so.
    const late = e.holdEnd("s1", "h1", { receivedAt: evs[4].receivedAt - 1 });
    expect((await apply(t, [late]))[0].verdict).toBe("applied");
    const s2 = await session(t);
    expect(s2.events.find((x) => x.holdId === "h1" && x.type === "hold_start")!.holdClosedBy).toBe("hold_end");
    expect([s2.session.summary!.events, s2.session.summary!.holdsClosedOnComplete]).toEqual([5, 1]);
    expect(s.session.summary).toEqual({
      durationMs: 7000, // complete (event 11) minus start (event 4), 1 s apart each
      cameras: 2, cuts: 0, holds: 3, stills: 0, cues: 0, events: 4, holdsClosedOnComplete: 2,
    });
    expect(s.session.summary!.durationMs).toBe(evs[4].at - s.session.startedAt);
  });
});

describe("stills", () => {
  test("still_exists, still_not_found, camera_not_in_session; the upload completes the same row", async () => {
    const t = setup();
    const e = await rig(t);
    await apply(t, [e.start("s2"), e.join("s2", "X", "d3"), e.still("s2", "other", "X")]);
    const marker = e.still("s1", "st1", "A", { byteSize: 10, contentType: "image/jpeg", storageRef: "local://st1" });
    const evs = [
      marker, // 10
      e.still("s1", "st1", "B"), // 11: exists
      e.still("s2", "st1", "X"), // 12: exists (stillId is global)
      e.still("s1", "st2", "Z"), // 13: camera not in session
      e.uploaded("s1", "nope", "s3://x"), // 14
      e.uploaded("s1", "other", "s3://x"), // 15: still of another session
      e.uploaded("s1", "st1", "s3://full/st1.jpg", { byteSize: 9_000_000, sha256: "cd".repeat(32) }), // 16
      e.still("s1", "st2", "B", { width: -1 }), // 17
    ];
    const v = await apply(t, evs);
    const stills = await rows(t, "productionStills");
    const st1 = stills.find((s) => s.stillId === "st1")!;
    expect(v).toEqual([
      applied(e.id(10), { productionDirectorEvents: st1.directorEventId, productionStills: st1._id }),
      rejected(e.id(11), "still_exists", `still st1 already exists (session s1, marker event ${e.id(10)})`),
      rejected(e.id(12), "still_exists", `still st1 already exists (session s1, marker event ${e.id(10)})`),
      waiting(e.id(13), "camera", "s1/Z", "camera_not_in_session", "camera Z has not joined session s1"),
      waiting(e.id(14), "still", "nope", "still_not_found", "no still nope in session s1"),
      rejected(e.id(15), "still_not_found", "no still other in session s1"),
      applied(e.id(16), { productionStills: st1._id }),
      rejected(e.id(17), "invalid_event", "width must be a finite number >= 0"),
    ]);
    expect(stills.map((s) => s.stillId)).toEqual(["other", "st1"]);
    expect(plain(st1)).toEqual({
      stillId: "st1", sessionKey: "s1", cameraKey: "A", deviceId: "d1", capturedAt: marker.capturedAt,
      byteSize: 9_000_000, contentType: "image/jpeg", sha256: "cd".repeat(32), storageRef: "s3://full/st1.jpg",
      directorEventId: st1.directorEventId, markerEventId: marker.eventId,
      uploadStatus: "uploaded", uploadedAt: evs[6].at, uploadedReceivedAt: evs[6].receivedAt,
      uploadEventId: evs[6].eventId, createdAt: NOW, updatedAt: NOW, timeline: timelineKey(marker),
    });
    const ev = await t.run((ctx) => ctx.db.get(st1.directorEventId));
    expect([ev!.type, ev!.stillId, ev!.stillRowId, ev!.eventId, ev!.cameraKey]).toEqual([
      "still", "st1", st1._id, marker.eventId, "A",
    ]);
    const s = await session(t);
    expect([s.session.counts.stills, s.stills.length, s.events.length]).toEqual([1, 1, 1]);
  });

  test("a pending still before upload: storage fields from the marker only, uploadStatus pending", async () => {
    const t = setup();
    const e = await rig(t);
    await apply(t, [e.still("s1", "st1", "B", { width: 4032, height: 3024 })]);
    const [st] = await rows(t, "productionStills");
    expect([st.uploadStatus, st.width, st.height, st.storageRef, st.uploadEventId]).toEqual([
      "pending", 4032, 3024, undefined, undefined,
    ]);
  });
});

describe("rejections never abort the batch", () => {
  test("events after a refused (rejected or waiting) event in the same batch are applied", async () => {
    const t = setup();
    const e = events();
    const evs = [
      e.register("d1"),
      e.start("s1"),
      e.join("s1", "A", "d1"),
      e.cut("s1", "B"), // rejected
      e.cut("s1", "A"),
      e.holdEnd("s1", "x"), // rejected
      e.marker("s1"),
      e.place("s1", "d1", { tiltDeg: 120 }), // rejected
      e.place("s1", "d1", { tiltDeg: 10 }),
      e.complete("s1"),
      e.note("s1"), // rejected
    ];
    const v = await apply(t, evs);
    expect(v.map((x) => [x.verdict, x.code])).toEqual([
      ["applied", undefined],
      ["applied", undefined],
      ["applied", undefined],
      ["waiting", "camera_not_in_session"],
      ["applied", undefined],
      ["waiting", "hold_not_open"],
      ["applied", undefined],
      ["rejected", "placement_out_of_range"],
      ["applied", undefined],
      ["applied", undefined],
      ["rejected", "session_completed"],
    ]);
    const s = await session(t);
    expect([s.session.status, s.session.heroCameraKey, s.events.length, s.cameras[0].placementVersion]).toEqual([
      "completed", "A", 2, 1,
    ]);
    // Every event, refused or not, has its receipt.
    const receipts = await t.query(internal.ledger.receipts, { eventIds: evs.map((ev) => ev.eventId) });
    expect(receipts.map((r) => [r!.eventId, r!.verdict, r!.code])).toEqual(
      evs.map((ev, i) => [ev.eventId, v[i].verdict, v[i].code]),
    );
  });
});

describe("invalid_event", () => {
  test("empty keys, bad clocks, non-finite offsets; an empty eventId gets no receipt", async () => {
    const t = setup();
    const e = await rig(t);
    const evs = [
      e.marker(""),
      e.marker("s1", "x", { at: -5 }),
      e.marker("s1", "x", { receivedAt: NaN }),
      e.join("s1", "", "d3"),
      e.register("", {}),
      e.register("d9", { hardwareId: "" }),
      e.place("s1", "d1", { x: 1 }, { clockOffsetMs: Infinity }),
      e.holdStart("s1", "", "A"),
      e.cut("s1", "A", { fromCameraKey: "" }),
      e.marker("s1", "x", { eventId: "" }),
    ];
    const v = await apply(t, evs);
    expect(v).toEqual([
      rejected(evs[0].eventId, "invalid_event", "sessionKey must not be empty"),
      rejected(evs[1].eventId, "invalid_event", "at and receivedAt must be finite epoch milliseconds >= 0"),
      rejected(evs[2].eventId, "invalid_event", "at and receivedAt must be finite epoch milliseconds >= 0"),
      rejected(evs[3].eventId, "invalid_event", "cameraKey must not be empty"),
      rejected(evs[4].eventId, "invalid_event", "deviceId must not be empty"),
      rejected(evs[5].eventId, "invalid_event", "hardwareId must not be empty (omit it)"),
      rejected(evs[6].eventId, "invalid_event", "clockOffsetMs must be finite"),
      rejected(evs[7].eventId, "invalid_event", "holdId must not be empty"),
      rejected(evs[8].eventId, "invalid_event", "fromCameraKey must not be empty"),
      rejected("", "invalid_event", "eventId must be 1..200 characters"),
    ]);
    const receipts = await rows(t, "ingestReceipts");
    expect(receipts).toHaveLength(6 + 9);
    expect(receipts.some((r) => r.eventId === "")).toBe(false);
    expect((await session(t)).events).toEqual([]);
  });
});
