// The device registry: upsert, firstSeenAt/lastSeenAt, hardware conflicts, staleness.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { NOW, apply, applied, bare, dump, events, internal, rejected, rows, setup, timelineKey } from "./harness.helpers";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  return () => vi.useRealTimers();
});

describe("register_device", () => {
  test("inserts, then updates in place keeping firstSeenAt and bumping lastSeenAt", async () => {
    const t = setup();
    const e = events();
    const r1 = e.register("d1", { name: "Old name", model: "iPhone 14", appVersion: "1.0.0", hardwareId: "hw-1" });
    const [v1] = await apply(t, [r1]);
    const [row1] = await rows(t, "productionDevices");
    expect(v1).toEqual(applied(r1.eventId, { productionDevices: row1._id }));
    expect(bare(row1)).toEqual({
      deviceId: "d1", name: "Old name", platform: "ios", model: "iPhone 14", appVersion: "1.0.0",
      hardwareId: "hw-1", firstSeenAt: r1.receivedAt, lastSeenAt: r1.receivedAt, lastRegisteredAt: r1.at,
      registerEventId: r1.eventId, lastEventId: r1.eventId, updatedAt: NOW,
      timelines: Object.fromEntries(
        ["name", "platform", "model", "appVersion", "hardwareId", "lastRegisteredAt", "lastEventId", "registered"].map(
          (f) => [f, timelineKey(r1)],
        ),
      ),
    });

    vi.setSystemTime(NOW + 5000);
    const r2 = e.register("d1", { name: "New name", platform: "ipados", appVersion: "2.0.0", receivedAt: r1.receivedAt + 60_000 });
    const [v2] = await apply(t, [r2]);
    const devices = await rows(t, "productionDevices");
    expect(devices).toHaveLength(1);
    expect(v2).toEqual(applied(r2.eventId, { productionDevices: row1._id }));
    expect(bare(devices[0])).toEqual({
      deviceId: "d1", name: "New name", platform: "ipados", model: "iPhone 14", appVersion: "2.0.0",
      hardwareId: "hw-1", firstSeenAt: r1.receivedAt, lastSeenAt: r1.receivedAt + 60_000, lastRegisteredAt: r2.at,
      registerEventId: r1.eventId, lastEventId: r2.eventId, updatedAt: NOW + 5000,
      // What r2 said is r2's; what it did not say (model, hardware id) stays r1's.
      timelines: {
        ...Object.fromEntries(
          ["name", "platform", "appVersion", "lastRegisteredAt", "lastEventId"].map((f) => [f, timelineKey(r2)]),
        ),
        model: timelineKey(r1),
        hardwareId: timelineKey(r1),
        registered: timelineKey(r1),
      },
    });

    // A late-arriving registration that the service accepted before r2
    // (earlier in the timeline) changes nothing r2 set, and never moves
    // lastSeenAt backwards; it did see the device, though, so a receivedAt
    // before firstSeenAt would move that.
    const r3 = e.register("d1", { name: "Older name", model: "iPhone 15", receivedAt: r1.receivedAt + 1 });
    await apply(t, [r3]);
    const [row3] = await rows(t, "productionDevices");
    expect([row3.name, row3.model, row3.firstSeenAt, row3.lastSeenAt, row3.lastEventId]).toEqual([
      "New name", "iPhone 15", r1.receivedAt, r1.receivedAt + 60_000, r2.eventId,
    ]);
    const r0 = e.register("d1", { name: "Oldest", receivedAt: r1.receivedAt - 10 });
    await apply(t, [r0]);
    const [row0] = await rows(t, "productionDevices");
    expect([row0.name, row0.firstSeenAt, row0.registerEventId]).toEqual(["New name", r1.receivedAt - 10, r0.eventId]);
  });

  test("a hardwareId owned by another deviceId is hardware_id_conflict and changes nothing", async () => {
    const t = setup();
    const e = events();
    await apply(t, [e.register("d1", { hardwareId: "hw-1" }), e.register("d2")]);
    const before = await dump(t);
    const clash = e.register("d2", { hardwareId: "hw-1", name: "renamed" });
    const fresh = e.register("d3", { hardwareId: "hw-1" });
    const v = await apply(t, [clash, fresh]);
    expect(v).toEqual([
      rejected(clash.eventId, "hardware_id_conflict", "hardwareId hw-1 is registered to device d1, not d2"),
      rejected(fresh.eventId, "hardware_id_conflict", "hardwareId hw-1 is registered to device d1, not d3"),
    ]);
    const after = await dump(t);
    expect(after.productionDevices).toEqual(before.productionDevices);
    // The owner re-registering with its own hardwareId is fine, and so is moving to a new one.
    const own = await apply(t, [e.register("d1", { hardwareId: "hw-1" }), e.register("d2", { hardwareId: "hw-2" })]);
    expect(own.map((x) => x.verdict)).toEqual(["applied", "applied"]);
    const devices = await rows(t, "productionDevices");
    expect(devices.map((d) => [d.deviceId, d.hardwareId])).toEqual([["d1", "hw-1"], ["d2", "hw-2"]]);
  });

  test("joining a session and updating a placement also count as seeing the device", async () => {
    const t = setup();
    const e = events();
    const reg = e.register("d1");
    const join = e.join("s1", "A", "d1", { receivedAt: reg.receivedAt + 30_000 });
    const place = e.place("s1", "d1", { x: 1 }, { receivedAt: reg.receivedAt + 90_000 });
    await apply(t, [reg, e.start("s1"), join]);
    expect((await rows(t, "productionDevices"))[0].lastSeenAt).toBe(reg.receivedAt + 30_000);
    await apply(t, [place]);
    const [d] = await rows(t, "productionDevices");
    expect([d.firstSeenAt, d.lastSeenAt]).toEqual([reg.receivedAt, reg.receivedAt + 90_000]);
  });
});

describe("ledger:devices", () => {
  test("pages the registry in deviceId order; nothing time-relative is computed inside the query", async () => {
    const t = setup();
    const e = events();
    await apply(t, ["c", "a", "e", "b", "d"].map((d) => e.register(d, { receivedAt: NOW - 1000 })));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const page: { page: { deviceId: string }[]; isDone: boolean; continueCursor: string } = await t.query(
        internal.ledger.devices,
        { paginationOpts: { numItems: 2, cursor } },
      );
      pages += 1;
      seen.push(...page.page.map((d) => d.deviceId));
      for (const d of page.page) expect(d).not.toHaveProperty("stale");
      if (page.isDone) break;
      cursor = page.continueCursor;
    }
    expect(seen).toEqual(["a", "b", "c", "d", "e"]);
    expect(pages).toBe(3);
  });
});
