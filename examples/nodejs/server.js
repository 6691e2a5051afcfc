const express = require("express");
const { greeting } = require("./greeting.js");

const app = express();
app.get("/", (_req, res) => {
  res
    .type("text")
    .send(`${greeting()} (Node.js ${process.version}, express ${require("express/package.json").version})\n`);
});

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || "0.0.0.0";
app.listen(port, host, () => console.log(`listening on ${host}:${port}`));
