// contract:handshake, and the visibility of every function of the ledger.
import { describe, expect, test } from "vitest";
import { CONTRACT_VERSION } from "../contract";
import { FUNCTIONS_BUILD_ID } from "../buildId";
import { modules } from "../../standin/modules";
import { internal, setup } from "./harness.helpers";

describe("contract:handshake", () => {
  test("answers the contract version and the functions build id", async () => {
    const t = setup();
    const got = await t.query(internal.contract.handshake, {});
    expect(got).toEqual({ contractVersion: CONTRACT_VERSION, functionsBuildId: FUNCTIONS_BUILD_ID });
    expect(CONTRACT_VERSION).toBe(3);
    expect(FUNCTIONS_BUILD_ID).toMatch(/^[0-9a-f]{16}$/);
  });

  test("takes no arguments", async () => {
    const t = setup();
    await expect(t.query(internal.contract.handshake, { extra: 1 } as any)).rejects.toThrow(
      /Validator error/,
    );
  });
});

describe("visibility", () => {
  /** Every registered Convex function of the module map: "module:export" -> function. */
  async function registered(): Promise<Map<string, any>> {
    const out = new Map<string, any>();
    for (const [key, load] of Object.entries(modules)) {
      if (key.includes("_generated")) continue;
      const mod = key.replace(/^\.\.\/convex\//, "").replace(/\.ts$/, "");
      const m = await load();
      for (const [name, f] of Object.entries(m)) {
        if (typeof f === "function" && ((f as any).isQuery || (f as any).isMutation || (f as any).isAction)) {
          out.set(`${mod}:${name}`, f);
        }
      }
    }
    return out;
  }

  test("the reads are internal queries (read with the deploy key)", async () => {
    const fns = await registered();
    for (const path of [
      "ledger:sessionHeader",
      "ledger:sessionEvents",
      "ledger:sessionStills",
      "ledger:sessionPlacements",
      "ledger:sessions",
      "ledger:devices",
      "ledger:clashes",
      "ledger:device",
      "ledger:receipt",
      "ledger:receipts",
      "contract:handshake",
    ]) {
      const f = fns.get(path);
      expect(f, path).toBeDefined();
      expect(f.isQuery, path).toBe(true);
      expect(f.isInternal, path).toBe(true);
      expect(f.isPublic, path).toBeUndefined();
    }
  });

  test("the deployment has no public function at all", async () => {
    const fns = await registered();
    expect([...fns.keys()].sort()).toEqual([
      "contract:handshake",
      "ingest:applyBatch",
      "ingest:settle",
      "ledger:clashes",
      "ledger:device",
      "ledger:devices",
      "ledger:receipt",
      "ledger:receipts",
      "ledger:sessionEvents",
      "ledger:sessionHeader",
      "ledger:sessionPlacements",
      "ledger:sessionStills",
      "ledger:sessions",
    ]);
    const pub = [...fns].filter(([, f]) => f.isInternal !== true || f.isPublic === true).map(([p]) => p);
    expect(pub).toEqual([]);
  });
});
