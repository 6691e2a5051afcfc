/**
 * One registry client per transport context (issue 17 §3): the sources and sinks of one command share it, so a
 * command that reads two images of one registry asks that registry once whether it speaks TLS (counted at a
 * TCP proxy: one handshake per client), and the context's owner closes it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/registry/client.ts";
import { closeContext, sharedState, type TransportContext } from "../../src/transport/context.ts";
import { copyImage } from "../../src/transport/copy.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";
import { type CountingProxy, startCountingProxy } from "../registry/helpers/countproxy.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let proxy: CountingProxy;

beforeAll(async () => {
  dir = await tempDir("berth-context-");
  home = join(dir, "home");
  const src = join(dir, "src");
  await umociImage(src, "a", [[{ path: "hello", content: "hello from a\n" }]]);
  await umociImage(src, "b", [[{ path: "other", content: "b\n" }]]);
  reg = await startRegistry();
  proxy = await startCountingProxy(reg.port);
  for (const t of ["a", "b"]) {
    const r = await berth(["copy", `oci:${src}:${t}`, `docker://${proxy.host}/team/${t}:1`], { home });
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
});

describe("one registry client per context", () => {
  it("berth copy between two repositories of one registry opens one client for its source and sink", async () => {
    proxy.reset();
    const r = await berth(
      ["copy", `docker://${proxy.host}/team/a:1`, `docker://${proxy.host}/team/copied:1`],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.counts().tls).toBe(1);
  });

  it("a Dockerfile build from two images of one registry opens one client", async () => {
    const ctxDir = join(dir, "context");
    await mkdir(ctxDir, { recursive: true });
    await writeFile(
      join(ctxDir, "Dockerfile"),
      `FROM ${proxy.host}/team/a:1 AS a\nFROM ${proxy.host}/team/b:1\nCOPY --from=a /hello /from-a\n`,
    );
    proxy.reset();
    const r = await berth(["build", ctxDir, "--dockerfile", "-t", `oci:${dir}/out:x`], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.counts().tls).toBe(1);
    expect(proxy.counts().connections).toBeGreaterThan(1);
  });

  it("a library context shares its client between sources and sinks until its owner closes it", async () => {
    const ctx: TransportContext = { home, env: {} };
    proxy.reset();
    const a = await openSource(parseImageArgument(`docker://${proxy.host}/team/a:1`), ctx);
    const b = await openSource(parseImageArgument(`docker://${proxy.host}/team/b:1`), ctx);
    await copyImage(
      parseImageArgument(`docker://${proxy.host}/team/b:1`),
      parseImageArgument(`oci:${dir}/lib:b`),
      ctx,
    );
    await a.close();
    await b.close();
    expect(proxy.counts().tls).toBe(1);
    const client = await sharedState(ctx).registry;
    expect(client).toBeInstanceOf(RegistryClient);
    // Closed sources leave the client to the context: it still reads.
    expect((await client!.repository(proxy.host, "team/a").tags()).sort()).toEqual(["1"]);
    await closeContext(ctx);
    expect(sharedState(ctx).registry).toBeUndefined();
    // The context stays usable: a later source makes a new client.
    const again = await openSource(parseImageArgument(`docker://${proxy.host}/team/a:1`), ctx);
    expect(again.root.digest).toBe(a.root.digest);
    expect(proxy.counts().tls).toBe(2);
    await closeContext(ctx);
  });
});
