import { defineConfig } from "vitest/config";

// Ledger tests: real Convex functions under convex-test, in the edge runtime
// Convex functions run in. Test files live in convex/tests/ and are named
// *.test.ts: the Convex CLI (1.48) skips every file whose name has more than
// one dot, so they are never deployed as functions.
export default defineConfig({
  test: {
    environment: "edge-runtime",
    server: { deps: { inline: ["convex-test"] } },
    include: ["convex/tests/**/*.test.ts"],
  },
});
