//! Builds a session module into a sessionhost component with componentize-js.
//!
//! Role: `build({ entry, out })` stages the user's modules with the SDK in a temporary
//! directory, generates the entry module that exports the WIT `session` interface, and runs
//! componentize-js against the world `session-guest`. Staging is needed because
//! componentize-js (StarlingMonkey) resolves every specifier as a path relative to the
//! importing file: the user's `import ... from "sessionhost"` is rewritten to the staged SDK.
//!
//! Invariants: only modules reachable from the entry by relative imports are staged, and they
//! must live under the entry's directory; WIT imports (`pkg:name/iface`) are left to
//! componentize-js; any other bare import (an npm package) is an error that says to bundle
//! first. Features the host does not need (`http`, `fetch-event`) are disabled, so the
//! component imports only the WIT host interface and WASI cli/io/clocks/random/filesystem.
//!
//! Ownership: the staging directory is created and removed by `build`; nothing else in the
//! user's tree is written except `out`.

import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import { componentize } from "@bytecodealliance/componentize-js";
import oxc from "oxc-parser";

/** The specifier session modules import the SDK by. */
export const SDK_SPECIFIER = "sessionhost";
/** The WIT world every session guest targets. */
export const WORLD = "session-guest";
/** componentize-js features the host has no use for (outbound and inbound HTTP). */
export const DISABLED_FEATURES = ["http", "fetch-event"];

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The WIT directory: `wit` if given, else `$SESSIONHOST_WIT`, else a `wit/` shipped beside
 * the package, else the repository's `wit/` when the SDK runs from a sessionhost checkout.
 */
export function findWit(wit) {
  const candidates = [wit, process.env.SESSIONHOST_WIT, join(here, "..", "wit"), join(here, "..", "..", "..", "wit")];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, "session.wit"))) return resolve(dir);
  }
  throw new Error(
    "cannot find the sessionhost WIT (session.wit): pass --wit DIR or set SESSIONHOST_WIT",
  );
}

/** A JS string literal's bounds in `code`, given oxc's span (UTF-16 or UTF-8 offsets). */
function literalRange(code, request) {
  const quoted = (s) => s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.slice(1, -1) === request.value;
  if (quoted(code.slice(request.start, request.end))) return [request.start, request.end];
  const bytes = Buffer.from(code, "utf8");
  const prefix = bytes.subarray(0, request.start).toString("utf8").length;
  const end = prefix + bytes.subarray(request.start, request.end).toString("utf8").length;
  if (quoted(code.slice(prefix, end))) return [prefix, end];
  throw new Error(`cannot locate the import of "${request.value}" in the source`);
}

/** Every import/export-from specifier of a module, with its source range. */
function specifiers(file, code) {
  const parsed = oxc.parseSync(file, code, { sourceType: "module" });
  if (parsed.errors.length > 0) {
    const first = parsed.errors[0];
    throw new Error(`${file}: syntax error: ${first.message ?? JSON.stringify(first)}`);
  }
  const requests = [];
  for (const imp of parsed.module.staticImports) requests.push(imp.moduleRequest);
  for (const exp of parsed.module.staticExports) {
    for (const entry of exp.entries) if (entry.moduleRequest) requests.push(entry.moduleRequest);
  }
  if (parsed.module.dynamicImports.length > 0) {
    throw new Error(`${file}: dynamic import() is not supported in session modules`);
  }
  const unique = new Map();
  for (const r of requests) unique.set(`${r.start}:${r.end}`, r);
  return [...unique.values()];
}

/** Copies the module graph under `root` from `entry` into `stage/app`, rewriting SDK imports. */
async function stageModules(root, entry, stage, sdkFile) {
  const seen = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(root, file);
    if (rel.startsWith("..") || rel.startsWith(sep)) {
      throw new Error(`${file}: imported modules must live under ${root}`);
    }
    let code = await readFile(file, "utf8");
    const target = join(stage, "app", rel);
    const edits = [];
    for (const request of specifiers(file, code)) {
      const spec = request.value;
      if (spec === SDK_SPECIFIER) {
        let path = relative(dirname(target), sdkFile).split(sep).join("/");
        if (!path.startsWith(".")) path = `./${path}`;
        edits.push([...literalRange(code, request), JSON.stringify(path)]);
      } else if (spec.startsWith("./") || spec.startsWith("../")) {
        const dep = resolve(dirname(file), spec);
        if (!existsSync(dep)) throw new Error(`${file}: cannot find module "${spec}"`);
        queue.push(dep);
      } else if (!/^[a-z][a-z0-9-]*:/.test(spec)) {
        throw new Error(
          `${file}: cannot import "${spec}": only relative modules, "${SDK_SPECIFIER}" and WIT ` +
            "interfaces are staged; bundle npm packages first (e.g. esbuild --bundle --format=esm)",
        );
      }
    }
    edits.sort((a, b) => b[0] - a[0]);
    for (const [start, end, text] of edits) code = code.slice(0, start) + text + code.slice(end);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, code);
  }
}

/**
 * Builds `entry` (a session module) into the component `out`. Returns what the component
 * imports from the WIT world (as componentize-js reports it) and the component's size.
 */
export async function build({ entry, out, wit, debugBuild = false }) {
  const entryPath = resolve(entry);
  const witDir = findWit(wit);
  const stage = await mkdtemp(join(tmpdir(), "sessionhost-js-"));
  try {
    const sdkFile = join(stage, "sdk", "sessionhost.js");
    await mkdir(dirname(sdkFile), { recursive: true });
    await copyFile(join(here, "sessionhost.js"), sdkFile);
    await stageModules(dirname(entryPath), entryPath, stage, sdkFile);
    const user = relative(stage, join(stage, "app", relative(dirname(entryPath), entryPath)));
    const glue = join(stage, "entry.js");
    await writeFile(
      glue,
      [
        `import * as user from "./${user.split(sep).join("/")}";`,
        'import { exportSession } from "./sdk/sessionhost.js";',
        "if (user.default === undefined) {",
        '  throw new TypeError("the session module must `export default` its session class or object");',
        "}",
        "export const session = exportSession(user.default);",
        "",
      ].join("\n"),
    );
    const { component, imports } = await componentize({
      sourcePath: glue,
      witPath: witDir,
      worldName: WORLD,
      disableFeatures: DISABLED_FEATURES,
      debugBuild,
    });
    await mkdir(dirname(resolve(out)), { recursive: true });
    await writeFile(out, component);
    return { imports, bytes: component.length };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
