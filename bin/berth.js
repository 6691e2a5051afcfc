#!/usr/bin/env node
// The berth command. Runs the compiled CLI; `npm ci` builds it through the `prepare` script.
import "../dist/cli/bin.js";
