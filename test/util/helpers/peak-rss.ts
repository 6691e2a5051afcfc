// Loaded into a berth process with `--import` (NODE_OPTIONS): at exit, writes the process's peak resident set
// size in KiB (getrusage's ru_maxrss) to the file BERTH_TEST_PEAK_RSS names.
import { writeFileSync } from "node:fs";

const out = process.env.BERTH_TEST_PEAK_RSS;
if (out) process.on("exit", () => writeFileSync(out, String(process.resourceUsage().maxRSS)));
