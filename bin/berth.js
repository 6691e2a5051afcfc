#!/usr/bin/env node
// The berth command. Runs the bundled CLI; `npm ci` builds it through the `prepare` script (scripts/build.ts).
import "../dist/bundle/berth.js";
