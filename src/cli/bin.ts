import module from "node:module";
import { join } from "node:path";
import { berthHome } from "./env.ts";

// V8's compiled code for berth's modules is kept under BERTH_HOME with every other cache, so later runs skip
// parsing and compiling (most of a short command's start). Where the folder cannot be written, Node goes on
// without it.
module.enableCompileCache?.(join(berthHome(process.env), "cache", "node-compile"));

const { run } = await import("./main.ts");
await run();
