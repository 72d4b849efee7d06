// The device registry: upsert, firstSeenAt/lastSeenAt, hardware conflicts, staleness.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { NOW, apply, applied, bare, dump, events, internal, rejected, rows, setup } from "./harness.helpers";

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
    });

    // A late-arriving older registration never moves lastSeenAt backwards.
    const r3 = e.register("d1", { name: "New name", receivedAt: r1.receivedAt + 1 });
    await apply(t, [r3]);
    const [row3] = await rows(t, "productionDevices");
    expect([row3.firstSeenAt, row3.lastSeenAt, row3.lastEventId]).toEqual([
      r1.receivedAt, r1.receivedAt + 60_000, r3.eventId,
    ]);
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
  test("stale is true when lastSeenAt is older than staleAfterMs before now", async () => {
    const t = setup();
    const e = events();
    await apply(t, [
      e.register("fresh", { receivedAt: NOW - 1000 }),
      e.register("edge", { receivedAt: NOW - 300_000 }),
      e.register("old", { receivedAt: NOW - 600_000 }),
    ]);
    const list = await t.query(internal.ledger.devices, { staleAfterMs: 300_000 });
    expect(list.map((d) => [d.deviceId, d.lastSeenAt, d.stale])).toEqual([
      ["edge", NOW - 300_000, false],
      ["fresh", NOW - 1000, false],
      ["old", NOW - 600_000, true],
    ]);

    // Time passes: everything goes stale; a re-registration freshens one device.
    vi.setSystemTime(NOW + 3_600_000);
    await apply(t, [e.register("old", { receivedAt: NOW + 3_600_000 - 10 })]);
    const later = await t.query(internal.ledger.devices, { staleAfterMs: 300_000 });
    expect(later.map((d) => [d.deviceId, d.stale])).toEqual([
      ["edge", true],
      ["fresh", true],
      ["old", false],
    ]);
    expect(later.find((d) => d.deviceId === "old")!.firstSeenAt).toBe(NOW - 600_000);
  });
});
