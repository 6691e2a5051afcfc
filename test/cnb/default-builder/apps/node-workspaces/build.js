// The build script: needs a devDependency, writes dist/ for the server.
const fs = require("node:fs");
const isNumber = require("is-number");

fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/built.txt", `built with is-number: ${isNumber(42)}`);
