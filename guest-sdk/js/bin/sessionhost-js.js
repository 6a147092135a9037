#!/usr/bin/env node
//! `sessionhost-js build SESSION.js -o OUT.wasm [--wit DIR] [--debug]`: the command-line
//! front of `src/build.js`. Prints the component's size and its WIT imports; exits 1 with
//! the error's message on failure, 2 on a usage error.

import { parseArgs } from "node:util";

import { build } from "../src/build.js";

const usage = "usage: sessionhost-js build SESSION.js -o OUT.wasm [--wit DIR] [--debug]";

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      wit: { type: "string" },
      debug: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 2 || positionals[0] !== "build" || !values.out) {
  console.error(usage);
  process.exit(2);
}

const started = Date.now();
try {
  const { imports, bytes } = await build({
    entry: positionals[1],
    out: values.out,
    wit: values.wit,
    debugBuild: values.debug,
  });
  const used = imports.map(([iface, name]) => `${iface}#${name}`).join(", ") || "none";
  console.log(
    `${values.out}: ${(bytes / 1048576).toFixed(1)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s; WIT imports: ${used}`,
  );
} catch (e) {
  console.error(`sessionhost-js: ${e.message}`);
  process.exit(1);
}
