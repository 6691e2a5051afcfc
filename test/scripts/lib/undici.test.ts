/** scripts/lib/undici.ts: undici bundled as berth's bundles have it, its HTTP/2 client loaded on first use. */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build, type Plugin } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lazyHttp2, UNDICI_ENTRY } from "../../../scripts/lib/undici.ts";

const ROOT = resolve(import.meta.dirname, "../../..");

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-undici-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bundle(name: string, plugins: Plugin[], resolveDir = ROOT): Promise<string> {
  const outfile = join(dir, name);
  await build({
    stdin: { contents: UNDICI_ENTRY, resolveDir, loader: "js" },
    outfile,
    bundle: true,
    format: "cjs",
    platform: "node",
    logLevel: "silent",
    plugins,
  });
  return outfile;
}

/**
 * In a fresh Node: the bundle loaded, whether node:http2 is loaded then, and a GET through its Agent and request
 * API to a plain HTTP server on loopback (the answer's status and body), and whether node:http2 is loaded after.
 */
function probe(file: string): { h2AtLoad: boolean; status: number; body: string; h2After: boolean } {
  const script = `
    const http = require("node:http");
    const h2 = () => process.moduleLoadList.includes("NativeModule http2");
    const { Agent, request } = require(${JSON.stringify(file)});
    const h2AtLoad = h2();
    const server = http.createServer((_, res) => res.end("hello")).listen(0, "127.0.0.1", async () => {
      const agent = new Agent();
      const res = await request.call(agent, { origin: "http://127.0.0.1:" + server.address().port, path: "/", method: "GET" });
      const body = await res.body.text();
      await agent.close();
      server.close();
      console.log(JSON.stringify({ h2AtLoad, status: res.statusCode, body, h2After: h2() }));
    });`;
  return JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })) as ReturnType<
    typeof probe
  >;
}

describe("lazyHttp2", () => {
  it("bundles undici so that node:http2 is not loaded with it, and requests over HTTP/1.1 work", async () => {
    const file = await bundle("lazy.cjs", [lazyHttp2]);
    expect(probe(file)).toEqual({ h2AtLoad: false, status: 200, body: "hello", h2After: false });
  });

  it("is what keeps node:http2 out: the same bundle without it loads node:http2 with undici", async () => {
    const file = await bundle("eager.cjs", []);
    expect(probe(file)).toMatchObject({ h2AtLoad: true, status: 200, body: "hello" });
  });

  it("fails the build, naming the file, when undici's client.js no longer requires client-h2.js as it did", async () => {
    const fake = join(dir, "fake");
    const lib = join(fake, "node_modules", "undici", "lib");
    await mkdir(join(lib, "dispatcher"), { recursive: true });
    await mkdir(join(lib, "api"), { recursive: true });
    await writeFile(join(lib, "dispatcher", "agent.js"), "module.exports = require('./client.js');\n");
    await writeFile(join(lib, "dispatcher", "client.js"), "const h2 = require('./client-h2.js');\n");
    await writeFile(join(lib, "dispatcher", "client-h2.js"), "module.exports = 1;\n");
    await writeFile(join(lib, "api", "api-request.js"), "module.exports = 2;\n");
    await expect(bundle("fake.cjs", [lazyHttp2], fake)).rejects.toThrow(
      /undici[\\/]lib[\\/]dispatcher[\\/]client\.js no longer has "const connectH2 = require\('\.\/client-h2\.js'\)"/,
    );
  });
});
