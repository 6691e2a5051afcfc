const http = require("node:http");
const ms = require("ms");
const { name } = require("./package.json");

http
  .createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`Hello from ${name}: one minute is ${ms(60000)} (Node.js ${process.version})\n`);
  })
  .listen(Number(process.env.PORT || 8080), process.env.HOST || "0.0.0.0");
