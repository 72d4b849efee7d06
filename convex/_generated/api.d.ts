/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type * as apply_cameras from "../apply/cameras.js";
import type * as apply_devices from "../apply/devices.js";
import type * as apply_director from "../apply/director.js";
import type * as apply_holds from "../apply/holds.js";
import type * as apply_registry from "../apply/registry.js";
import type * as apply_sessions from "../apply/sessions.js";
import type * as apply_stills from "../apply/stills.js";
import type * as batch from "../batch.js";
import type * as buildId from "../buildId.js";
import type * as contract from "../contract.js";
import type * as defined from "../defined.js";
import type * as ingest from "../ingest.js";
import type * as ledger from "../ledger.js";
import type * as limits from "../limits.js";
import type * as lww from "../lww.js";
import type * as outcome from "../outcome.js";
import type * as receipts from "../receipts.js";
import type * as rules_checks from "../rules/checks.js";
import type * as rules_lookups from "../rules/lookups.js";
import type * as timeline from "../timeline.js";
import type * as wire from "../wire.js";

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";

declare const fullApi: ApiFromModules<{
  "apply/cameras": typeof apply_cameras;
  "apply/devices": typeof apply_devices;
  "apply/director": typeof apply_director;
  "apply/holds": typeof apply_holds;
  "apply/registry": typeof apply_registry;
  "apply/sessions": typeof apply_sessions;
  "apply/stills": typeof apply_stills;
  batch: typeof batch;
  buildId: typeof buildId;
  contract: typeof contract;
  defined: typeof defined;
  ingest: typeof ingest;
  ledger: typeof ledger;
  limits: typeof limits;
  lww: typeof lww;
  outcome: typeof outcome;
  receipts: typeof receipts;
  "rules/checks": typeof rules_checks;
  "rules/lookups": typeof rules_lookups;
  timeline: typeof timeline;
  wire: typeof wire;
}>;

/**
 * A utility for referencing Convex functions in your app's public API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;

/**
 * A utility for referencing Convex functions in your app's internal API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = internal.myModule.myFunction;
 * ```
 */
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;

export declare const components: {};
