// The explicit module map of the Convex functions, for convex-test (used by
// the ledger tests and by the stand-in server) — the equivalent of
// `import.meta.glob("../convex/**/*.*s")`, which plain Node (tsx) lacks.
//
// convex-test finds the functions root from the key containing "_generated"
// (the text before "_generated", here "../convex/"), strips the extension from
// every key, and resolves a function path "ingest:applyBatch" to the key
// "../convex/ingest.*". So every Convex module must be listed here with its
// path under convex/ — add a line when you add a module.
import schema from "../convex/schema";

export const modules: Record<string, () => Promise<any>> = {
  "../convex/_generated/api.js": () => import("../convex/_generated/api.js"),
  "../convex/_generated/server.js": () =>
    import("../convex/_generated/server.js"),
  "../convex/schema.ts": () => import("../convex/schema"),
  "../convex/wire.ts": () => import("../convex/wire"),
  "../convex/ingest.ts": () => import("../convex/ingest"),
  "../convex/ledger.ts": () => import("../convex/ledger"),
  "../convex/limits.ts": () => import("../convex/limits"),
  "../convex/defined.ts": () => import("../convex/defined"),
  "../convex/outcome.ts": () => import("../convex/outcome"),
  "../convex/contract.ts": () => import("../convex/contract"),
  "../convex/buildId.ts": () => import("../convex/buildId"),
  "../convex/rules/checks.ts": () => import("../convex/rules/checks"),
  "../convex/rules/lookups.ts": () => import("../convex/rules/lookups"),
  "../convex/apply/sessions.ts": () => import("../convex/apply/sessions"),
  "../convex/apply/devices.ts": () => import("../convex/apply/devices"),
  "../convex/apply/cameras.ts": () => import("../convex/apply/cameras"),
  "../convex/apply/director.ts": () => import("../convex/apply/director"),
  "../convex/apply/stills.ts": () => import("../convex/apply/stills"),
  "../convex/apply/registry.ts": () => import("../convex/apply/registry"),
  "../convex/timeline.ts": () => import("../convex/timeline"),
  "../convex/lww.ts": () => import("../convex/lww"),
  "../convex/batch.ts": () => import("../convex/batch"),
  "../convex/receipts.ts": () => import("../convex/receipts"),
  "../convex/apply/holds.ts": () => import("../convex/apply/holds"),
};

export { schema };
export default modules;
