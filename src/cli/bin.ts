import { mkdirSync, statSync } from "node:fs";
import module from "node:module";
import { join } from "node:path";
import { berthHome } from "./env.ts";

// V8's compiled code for berth's modules is kept under BERTH_HOME with every other cache, so later runs skip
// parsing and compiling (most of a short command's start). Where the folder cannot be written, Node goes on
// without it.
// BERTH_HOME and cache/ are made 0700 here, before Node makes the cache folder with its default mode (main.ts
// then checks every private folder: util/home.ts).
const home = berthHome(process.env);
try {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  // a shared folder (sticky, as /tmp) is refused by main.ts: nothing is made in it
  if (!(statSync(home).mode & 0o1000)) {
    mkdirSync(join(home, "cache"), { recursive: true, mode: 0o700 });
    module.enableCompileCache?.(join(home, "cache", "node-compile"));
  }
} catch {
  // an unwritable home: main.ts reports it
}

const { run } = await import("./main.ts");
await run();
