import { enableCompileCache } from "./compile-cache.ts";
import { berthHome } from "./env.ts";

// V8's compiled code for berth's modules, in a per-user cache (./compile-cache.ts), before main.ts's modules
// are loaded. A cache berth cannot use costs only start time; BERTH_DEBUG says why.
const env = process.env;
const cache = enableCompileCache({ env, uid: process.geteuid?.() ?? 0 }, berthHome(env));
if (env.BERTH_DEBUG && cache.kind !== "user") process.stderr.write(`debug: compile cache: ${cache.why}\n`);

const { run } = await import("./main.ts");
await run();
