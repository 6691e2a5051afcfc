const ms = require("ms");

exports.greet = (name) => `Hello from ${name}: one minute is ${ms(60000)}`;
