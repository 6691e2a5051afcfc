// A workspace package with a registry dependency of its own: pnpm links it into the root's node_modules.
const ms = require("ms");

exports.greet = (name) => `Hello from ${name}: one minute is ${ms(60000)}`;
