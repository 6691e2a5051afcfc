/**
 * undici as berth's bundles have it (dist/bundle/chunks/undici.cjs beside the CLI's chunks, and inside the single
 * executable): the two parts src/registry/http.ts uses (the Agent and the `request` API), one CommonJS file, with
 * its HTTP/2 client loaded on the first HTTP/2 connection instead of with the rest.
 *
 * undici's client.js requires client-h2.js when it is loaded, and client-h2.js requires node:http2, which brings 43
 * more of Node's modules (tls, crypto, readline, fs/promises…): ~10 ms of the ~23 it took to load undici on the
 * bench machine, paid by every command that talks to a registry, though a registry on loopback speaks plain HTTP/1.1
 * and HTTP/2 is chosen (ALPN) only on a TLS connection. The call site (`connectH2(client, socket)`) is the only use
 * of client-h2.js, so it is required there, on first use. An undici whose client.js no longer has that line fails
 * the build.
 */
import { readFile } from "node:fs/promises";
import type { Plugin } from "esbuild";

/** The module a bundle requires for undici: what loadUndici (src/registry/http.ts) expects of it. */
export const UNDICI_ENTRY = `module.exports = {
  Agent: require("undici/lib/dispatcher/agent.js"),
  request: require("undici/lib/api/api-request.js"),
};
`;

const EAGER_H2 = "const connectH2 = require('./client-h2.js')";
const LAZY_H2 = "const connectH2 = (...args) => require('./client-h2.js')(...args)";

/** undici's client.js in a bundle: client-h2.js (and node:http2) required on first use. */
export const lazyHttp2: Plugin = {
  name: "undici-lazy-http2",
  setup(b) {
    b.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/ }, async (a) => {
      const text = await readFile(a.path, "utf8");
      if (!text.includes(EAGER_H2)) {
        throw new Error(
          `${a.path} no longer has "${EAGER_H2}": see scripts/lib/undici.ts (undici's HTTP/2 client loaded lazily)`,
        );
      }
      return { contents: text.replace(EAGER_H2, LAZY_H2), loader: "js" };
    });
  },
};
