const fs = require("node:fs");
const http = require("node:http");
const { greet } = require("greet");

let devDependency = "absent";
try {
  require.resolve("is-number");
  devDependency = "present";
} catch {}
const built = fs.readFileSync(`${__dirname}/dist/built.txt`, "utf8");

http
  .createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(
      `${greet("node-workspaces")} (${built}; devDependency ${devDependency}; Node.js ${process.version})\n`,
    );
  })
  .listen(Number(process.env.PORT || 8080), process.env.HOST || "0.0.0.0");
