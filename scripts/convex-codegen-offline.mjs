// Offline stand-in for `npx convex codegen` (which needs a deployment):
// writes convex/_generated/{api.js,api.d.ts,server.js,server.d.ts,dataModel.d.ts}
// and convex/tsconfig.json exactly as convex 1.48 does for this project's root
// component (JS codegen, dynamic api, schema.ts present, no child components,
// no declared env vars), using convex's own templates and prettier.
// It also writes convex/buildId.ts, the functions build id that
// `contract:handshake` answers (scripts/functions-build-id.mjs).
// Run from the repo root after every change in convex/ (the build id covers
// every function source file; a test fails while it is stale):
//   npm run codegen:offline
// (and add a new module to standin/modules.ts too).
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { buildIdModule, computeFunctionsBuildId } from "./functions-build-id.mjs";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const nm = path.join(root, "node_modules");
const tpl = (f) => import(path.join(nm, "convex/dist/esm/cli/codegen_templates", f));
const { header, compareModulePaths, apiComment } = await tpl("common.js");
const { importPath, moduleIdentifier } = await tpl("api.js");
// componentApiJs() of codegen_templates/component_api.js (inlined: that file
// imports the CLI bundler, which needs CLI-only dependencies).
function componentApiJs() {
  const lines = [];
  lines.push(header("Generated `api` utility."));
  lines.push(`
    import { anyApi, componentsGeneric } from "convex/server";

    ${apiComment("api", void 0)}
    export const api = anyApi;
    export const internal = anyApi;
    export const components = componentsGeneric();
  `);
  return lines.join("\n");
}
// dynamicDataModelDTS() of codegen_templates/dataModel.js, read from its source
// (importing that file pulls in CLI-only dependencies).
const dmSrc = fs.readFileSync(path.join(nm, "convex/dist/esm/cli/codegen_templates/dataModel.js"), "utf8");
const dmStart = dmSrc.indexOf("const dynamicDataModelContent = `") + "const dynamicDataModelContent = ".length;
const dmEnd = dmSrc.indexOf("`;\nexport function dynamicDataModelDTS") + 1;
const dynamicDataModelDTS = () => new Function("header", "return " + dmSrc.slice(dmStart, dmEnd) + ";")(header);
const { serverCodegen } = await tpl("server.js");
const { tsconfigCodegen } = await tpl("tsconfig.js");
const prettier = await import(path.join(nm, "prettier/index.mjs"));
const fmt = (s) => prettier.format(s, { parser: "typescript", pluginSearchDirs: false });
// The entry points the Convex bundler would pick (bundler/index.js entryPoints):
// .ts/.js/... files under convex/, not in _generated/, not schema.ts, not
// dotfiles, no second dot in the name, no spaces, containing import/export.
function entryPoints(dir, rel = "") {
  const out = [];
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) {
      if (r !== "_generated" && r !== "node_modules") out.push(...entryPoints(dir, r));
      continue;
    }
    const base = ent.name;
    if (![".js", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".jsx"].some((x) => base.endsWith(x))) continue;
    if (base.startsWith(".") || base.startsWith("#") || base === "schema.ts" || base === "schema.js") continue;
    if ((base.match(/\./g) || []).length > 1 || r.includes(" ")) continue;
    if (/\.tsx?$/.test(base) && !/^\s{0,100}(import|export)/m.test(fs.readFileSync(path.join(dir, r), "utf8"))) continue;
    out.push(r);
  }
  return out;
}
const modulePaths = entryPoints(path.join(root, "convex")).sort(compareModulePaths);
console.log("modules:", modulePaths.join(", "));
// codegenDynamicApiObjects + componentApiDTS (no child components)
let lines = [header("Generated `api` utility.")];
for (const m of modulePaths) lines.push(`import type * as ${moduleIdentifier(m)} from "../${importPath(m)}.js";`);
lines.push(`
    import type {
      ApiFromModules,
      FilterApi,
      FunctionReference,
    } from "convex/server";

    declare const fullApi: ApiFromModules<{
  `);
for (const m of modulePaths) lines.push(`  "${importPath(m)}": typeof ${moduleIdentifier(m)},`);
lines.push(`}>;`);

lines.push(`
    ${apiComment("api", "public")}
    export declare const api: FilterApi<typeof fullApi, FunctionReference<any, "public">>;
    ${apiComment("internal", "internal")}
    export declare const internal: FilterApi<typeof fullApi, FunctionReference<any, "internal">>;
  `);
lines.push(`
  export declare const components: {`);
lines.push("};");
const out = path.join(root, "convex/_generated");
fs.writeFileSync(path.join(out, "api.d.ts"), await fmt(lines.join("\n")));
fs.writeFileSync(path.join(out, "api.js"), await fmt(componentApiJs()));
fs.writeFileSync(path.join(out, "dataModel.d.ts"), await fmt(dynamicDataModelDTS()));
const server = serverCodegen({ useTypeScript: false, envVars: [] });
fs.writeFileSync(path.join(out, "server.js"), await fmt(server.JS));
fs.writeFileSync(path.join(out, "server.d.ts"), await fmt(server.DTS));
fs.writeFileSync(path.join(root, "convex/tsconfig.json"), tsconfigCodegen());
// Last, so that it fingerprints the sources as they are now (buildId.ts itself
// is not part of the id).
const buildId = computeFunctionsBuildId(path.join(root, "convex"));
fs.writeFileSync(path.join(root, "convex/buildId.ts"), buildIdModule(buildId));
console.log("functions build id:", buildId);
