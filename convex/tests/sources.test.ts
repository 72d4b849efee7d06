// @vitest-environment node
// The generated functions build id is current, and the texts the Rust side
// reads are in the form it expects. (Node environment: it reads files.)
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { buildIdFiles, buildIdModule, computeFunctionsBuildId } from "../../scripts/functions-build-id.mjs";

const convexDir = path.resolve(__dirname, "..");

describe("functions build id", () => {
  test("convex/buildId.ts is current (else run `npm run codegen:offline`)", () => {
    const id = computeFunctionsBuildId(convexDir);
    const text = fs.readFileSync(path.join(convexDir, "buildId.ts"), "utf8");
    expect(text, "convex/buildId.ts is stale: run `npm run codegen:offline` and commit it").toBe(buildIdModule(id));
    expect(text).toMatch(/^export const FUNCTIONS_BUILD_ID = "[0-9a-f]{16}";$/m);
  });

  test("covers the function sources and nothing else", () => {
    const files = buildIdFiles(convexDir);
    expect(files).toContain("contract.ts");
    expect(files).toContain("ingest.ts");
    expect(files).toContain("schema.ts");
    expect(files).toContain("rules/checks.ts");
    expect(files.some((f) => f.startsWith("_generated/") || f.startsWith("tests/"))).toBe(false);
    expect(files).not.toContain("buildId.ts");
    expect(files.every((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))).toBe(true);
    const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(files).toEqual(sorted);
  });

  test("follows the documented algorithm", () => {
    // A fixture tree with every kind of file the rule names.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "buildid-"));
    const put = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };
    put("b.ts", "B");
    put("a/z.ts", "Z");
    put("B.ts", "upper");
    put("buildId.ts", "ignored");
    put("x.test.ts", "ignored");
    put("tests/t.ts", "ignored");
    put("_generated/api.ts", "ignored");
    put("notes.md", "ignored");
    put("c.js", "ignored");
    try {
      expect(buildIdFiles(dir)).toEqual(["B.ts", "a/z.ts", "b.ts"]);
      const h = crypto.createHash("sha256");
      h.update("B.ts\nupper\na/z.ts\nZ\nb.ts\nB\n");
      expect(computeFunctionsBuildId(dir)).toBe(h.digest("hex").slice(0, 16));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("texts the Rust side reads", () => {
  test("CONTRACT_VERSION is one line `export const CONTRACT_VERSION = <integer>;`", () => {
    const text = fs.readFileSync(path.join(convexDir, "contract.ts"), "utf8");
    const lines = text.split("\n").filter((l) => l.includes("CONTRACT_VERSION ="));
    expect(lines).toEqual(["export const CONTRACT_VERSION = 3;"]);
  });
});
