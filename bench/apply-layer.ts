/** `node bench/apply-layer.ts BLOB DIR`: berth's applyLayer of one layer blob into DIR (for the extraction benchmark). */
import { createReadStream } from "node:fs";
import { applyLayer } from "../src/layer/apply.ts";

const [blob, dir] = process.argv.slice(2);
if (!blob || !dir) throw new Error("usage: apply-layer.ts BLOB DIR");
await applyLayer(createReadStream(blob, { highWaterMark: 1 << 20 }), dir);
