// `contract:handshake`: what a service asks a deployment before it forwards
// anything. Contract: migrations-notes/0002-contract-handshake.md.
//
// CONTRACT_VERSION is the version of the contract between the Rust service
// and these functions (the wire format of 0001, the functions it calls and
// what they answer). Raise it with every change the service has to know
// about; a Rust test reads this file's text and compares the number with the
// service's own constant, so keep it as the one line below.
//
// FUNCTIONS_BUILD_ID fingerprints the source of these functions (generated
// into buildId.ts by `npm run codegen:offline`), so a service can also tell
// whether the deployment runs exactly the functions of its own checkout.
import { v } from "convex/values";
import { internalQuery } from "./_generated/server";
import { FUNCTIONS_BUILD_ID } from "./buildId";

export const CONTRACT_VERSION = 3;

export const handshake = internalQuery({
  args: {},
  returns: v.object({
    contractVersion: v.number(),
    functionsBuildId: v.string(),
  }),
  handler: async () => ({
    contractVersion: CONTRACT_VERSION,
    functionsBuildId: FUNCTIONS_BUILD_ID,
  }),
});
