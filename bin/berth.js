#!/usr/bin/env node
// The berth command. Written for any Node (no syntax newer than ES2017 before the version check), so that an
// older Node hears which version berth needs instead of dying on the bundle (zstd, type stripping).
import { existsSync, readFileSync } from "node:fs";

const pkg = new URL("../package.json", import.meta.url);
const needed = /(\d+)\.(\d+)/.exec(JSON.parse(readFileSync(pkg, "utf8")).engines.node);
const have = process.versions.node.split(".").map(Number);
const want = [Number(needed[1]), Number(needed[2])];
if (have[0] < want[0] || (have[0] === want[0] && have[1] < want[1])) {
  process.stderr.write(
    `berth: needs Node.js ${want.join(".")} or newer; this is Node.js ${process.versions.node} (${process.execPath})\n` +
      `hint: install Node.js ${want.join(".")} or newer (https://nodejs.org/en/download)\n`,
  );
  process.exit(1);
}
// In a checkout (src/ is there) berth runs from its TypeScript sources, so what runs is what is checked out;
// an installed package runs the bundle `npm pack` built (the prepack script: scripts/build.ts).
const source = new URL("../src/cli/bin.ts", import.meta.url);
await import(existsSync(source) ? source.href : "../dist/bundle/berth.js");
