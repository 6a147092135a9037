//! Node.js module hooks for the SDK's unit tests: `sessionhost` resolves to the SDK and the
//! WIT import `sessionhost:session/host@0.1.0` to the fake host in `fake-host.js`, so session
//! modules run unchanged under `node --test` (as the Rust SDK's tests run on its fake host).

import { register } from "node:module";

register("./hooks.js", import.meta.url);
