// A pnpm workspace: the app depends on packages/greet (workspace:*), which depends on ms from the registry.
const http = require("node:http");
const { greet } = require("greet");

const port = Number(process.env.PORT || 8080);
http
  .createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`${greet("node-pnpm-workspaces")} (Node.js ${process.version})\n`);
  })
  .listen(port, process.env.HOST || "0.0.0.0");
