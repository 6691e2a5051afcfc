/**
 * Instructions and flags beyond the corpus: heredocs, ADD of a URL, secrets and cache mounts, ONBUILD,
 * HEALTHCHECK/STOPSIGNAL/VOLUME/SHELL, --target skipping stages, scratch, history, the store and --publish.
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { readTree } from "./helpers/compare.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let server: Server;
let port = 0;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-features-");
  base = await localBase(join(tmp, "base"));
  server = createServer((req, res) => {
    if (req.url === "/files/tool.txt") res.end("downloaded\n");
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  server?.close();
});

async function build(
  dockerfile: string,
  files: Record<string, string> = {},
  extra: string[] = [],
  prepare?: (ctx: string) => Promise<void>,
) {
  const i = n++;
  const ctx = await writeContext(join(tmp, `ctx-${i}`), {
    ...files,
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
  });
  await prepare?.(ctx);
  const out = join(tmp, `out-${i}`);
  const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${out}:img`, ...extra], {
    home: join(tmp, "home"),
    env: { BERTH_INSECURE_REGISTRIES: "127.0.0.1" },
  });
  if (r.code !== 0) throw new Error(r.stderr);
  return { out, stderr: r.stderr };
}

async function inspect(layout: string) {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const blob = (d: string) => join(layout, "blobs", "sha256", d.slice(7));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
  return JSON.parse(await readFile(blob(manifest.config.digest), "utf8"));
}

async function tree(layout: string) {
  await run("umoci", ["unpack", "--image", `${layout}:img`, `${layout}-bundle`]);
  return readTree(`${layout}-bundle/rootfs`);
}

const file = (out: string, p: string) => readFile(join(`${out}-bundle/rootfs`, p), "utf8");

describe("Dockerfile features", () => {
  it("heredocs for RUN and COPY, with and without expansion", async () => {
    const { out } = await build(`FROM {{BASE}}
ENV NAME=berth
COPY <<EOF /etc/greeting
hello $NAME
EOF
COPY <<"RAW" /etc/raw
keep $NAME
RAW
RUN <<EOF
echo "from a heredoc" > /hd
echo second line >> /hd
EOF
RUN cat > /cat-hd <<END
cat got it
END
`);
    const t = await tree(out);
    expect(await file(out, "etc/greeting")).toBe("hello berth\n");
    expect(await file(out, "etc/raw")).toBe("keep $NAME\n");
    expect(await file(out, "hd")).toBe("from a heredoc\nsecond line\n");
    expect(await file(out, "cat-hd")).toBe("cat got it\n");
    expect(t["etc/greeting"]?.mode).toBe("644");
  });

  it("ADD extracts local tar archives compressed with xz, bzip2, gzip or zstd; a compressed file that is no tar is copied", async () => {
    const { out } = await build(
      `FROM {{BASE}}
ADD rootfs.tar.xz /xz/
ADD rootfs.tar.bz2 /bz2/
ADD rootfs.tar.gz /gz/
ADD rootfs.tar.zst /zst/
ADD notes.gz /plain/
`,
      {},
      [],
      async (ctx) => {
        await writeContext(join(ctx, "src"), { "etc/os-release": "ID=test\n", "bin/tool": "#!/bin/sh\n" });
        const tar = join(ctx, "rootfs.tar");
        await run("tar", ["-C", join(ctx, "src"), "--owner=0", "--group=0", "-cf", tar, "etc", "bin"]);
        await run("sh", [
          "-c",
          `xz -kc ${tar} > ${tar}.xz && bzip2 -kc ${tar} > ${tar}.bz2 && gzip -c ${tar} > ${tar}.gz && zstd -qc ${tar} > ${tar}.zst`,
        ]);
        await run("sh", [
          "-c",
          `printf 'just text\\n' | gzip -c > ${join(ctx, "notes.gz")} && rm -r ${tar} ${join(ctx, "src")}`,
        ]);
      },
    );
    const t = await tree(out);
    for (const d of ["xz", "bz2", "gz", "zst"]) {
      expect(await file(out, `${d}/etc/os-release`)).toBe("ID=test\n");
      expect(t[`${d}/bin/tool`]).toMatchObject({ type: "file" });
    }
    expect(t["plain/notes.gz"]).toMatchObject({ type: "file" });
    expect(t["plain/etc/os-release"]).toBeUndefined();
  });

  it("ADD of a URL (a local HTTP server) makes a 0600 file", async () => {
    const { out } = await build(`FROM {{BASE}}
ADD http://127.0.0.1:${port}/files/tool.txt /opt/
ADD http://127.0.0.1:${port}/files/tool.txt /opt/renamed
`);
    const t = await tree(out);
    expect(t["opt/tool.txt"]).toMatchObject({ type: "file", mode: "600", owner: "0:0" });
    expect(t["opt/renamed"]).toMatchObject({ type: "file", mode: "600" });
    expect(await file(out, "opt/tool.txt")).toBe("downloaded\n");
  });

  it("RUN --mount=type=secret reads the secret, which stays out of the image; cache mounts persist", async () => {
    await writeContext(join(tmp, "secrets"), { token: "s3cret-value\n" });
    const secret = join(tmp, "secrets", "token");
    const df = `FROM {{BASE}}
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-size
RUN --mount=type=cache,target=/var/cache/app echo x >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs
`;
    const { out } = await build(df, {}, ["--secret", `id=token,src=${secret}`]);
    const t = await tree(out);
    expect((await file(out, "secret-size")).trim()).toBe("13");
    expect(t["run/secrets/token"]).toBeUndefined();
    expect(t["var/cache/app"]).toBeUndefined();
    expect(JSON.stringify(t)).not.toContain("s3cret");
    const again = await build(df.replace("> /runs", "> /runs2"), {}, ["--secret", `id=token,src=${secret}`]);
    await tree(again.out);
    expect(Number((await file(again.out, "runs2")).trim())).toBeGreaterThanOrEqual(2);
  });

  it("config instructions: HEALTHCHECK, STOPSIGNAL, VOLUME, SHELL, ENTRYPOINT resets inherited CMD, history", async () => {
    const { out } = await build(`FROM {{BASE}} AS parent
CMD ["inherited"]
FROM parent
SHELL ["/bin/sh", "-ec"]
RUN echo shell form > /s
HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD wget -q localhost || exit 1
STOPSIGNAL SIGQUIT
VOLUME /data /logs
ENTRYPOINT echo hi
`);
    const cfg = await inspect(out);
    expect(cfg.config.Healthcheck).toEqual({
      Test: ["CMD-SHELL", "wget -q localhost || exit 1"],
      Interval: 30e9,
      Timeout: 90e9,
      Retries: 3,
    });
    expect(cfg.config.StopSignal).toBe("SIGQUIT");
    expect(Object.keys(cfg.config.Volumes).sort()).toEqual(["/data", "/logs"]);
    expect(cfg.config.Shell).toEqual(["/bin/sh", "-ec"]);
    expect(cfg.config.Entrypoint).toEqual(["/bin/sh", "-ec", "echo hi"]);
    expect(cfg.config.Cmd ?? null).toBeNull();
    const createdBy = cfg.history.map((h: { created_by?: string }) => h.created_by);
    expect(createdBy).toContain("RUN /bin/sh -ec echo shell form > /s # buildkit");
    expect(createdBy).toContain("STOPSIGNAL SIGQUIT");
    expect(cfg.history.filter((h: { empty_layer?: boolean }) => !h.empty_layer).length).toBe(
      cfg.rootfs.diff_ids.length,
    );
  });

  it("ONBUILD triggers run in the child build and are not inherited further", async () => {
    const parent = await build(
      `FROM {{BASE}}
ONBUILD COPY marker.txt /onbuild-marker
ONBUILD RUN echo triggered > /triggered
`,
      { "marker.txt": "m\n" },
    );
    const cfg = await inspect(parent.out);
    expect(cfg.config.OnBuild).toEqual([
      "COPY marker.txt /onbuild-marker",
      "RUN echo triggered > /triggered",
    ]);
    const child = await build(`FROM oci:${parent.out}:img\nLABEL child=1\n`, {
      "marker.txt": "child marker\n",
    });
    await tree(child.out);
    expect(await file(child.out, "triggered")).toBe("triggered\n");
    expect(await file(child.out, "onbuild-marker")).toBe("child marker\n");
    expect((await inspect(child.out)).config.OnBuild ?? null).toBeNull();
  });

  it("--target builds only the stages the target needs", async () => {
    const { out, stderr } = await build(
      `FROM {{BASE}} AS broken
RUN exit 1
FROM {{BASE}} AS deps
RUN echo dep > /dep
FROM scratch AS final
COPY --from=deps /dep /dep
FROM final AS later
RUN exit 1
`,
      {},
      ["--target", "final"],
    );
    expect(stderr).toContain("[stage 1/2] STEP 1/2: FROM");
    expect(stderr).toContain("[stage 2/2] STEP 2/2: COPY --from=deps /dep /dep");
    expect(stderr).not.toContain("exit 1");
    const t = await tree(out);
    expect(Object.keys(t)).toEqual(["dep"]);
  });

  it("-t into the local store, then FROM it by name; --publish to a registry", async () => {
    const registry: RegistryHarness = await startRegistry();
    try {
      const home = join(tmp, "home-store");
      const ctx = await writeContext(join(tmp, "store-ctx"), {
        Dockerfile: `FROM ${base}\nRUN echo one > /one\n`,
      });
      const r1 = await berth(["build", ctx, "--dockerfile", "-t", "stored/app:1"], { home });
      expect(r1.code, r1.stderr).toBe(0);
      const ctx2 = await writeContext(join(tmp, "store-ctx2"), {
        Dockerfile: "FROM stored/app:1\nRUN cat /one > /two\n",
      });
      const r2 = await berth(
        ["build", ctx2, "--dockerfile", "-t", `${registry.host}/app:2`, "--publish", "-q"],
        {
          home,
          env: { BERTH_INSECURE_REGISTRIES: "127.0.0.1" },
        },
      );
      expect(r2.code, r2.stderr).toBe(0);
      const digest = r2.stdout.trim();
      expect(digest).toMatch(/^sha256:/);
      const inspected = await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        `docker://${registry.host}/app:2`,
      ]);
      expect(JSON.parse(inspected).Digest).toBe(digest);
      // the same build published again (every step cached, the tag naming its manifest): nothing is written
      await registry.markLog();
      const r3 = await berth(
        ["build", ctx2, "--dockerfile", "-t", `${registry.host}/app:2`, "--publish", "-q"],
        { home, env: { BERTH_INSECURE_REGISTRIES: "127.0.0.1" } },
      );
      expect(r3.code, r3.stderr).toBe(0);
      expect(r3.stdout.trim()).toBe(digest);
      const writes = (await registry.requests()).filter((q) => q.method !== "GET" && q.method !== "HEAD");
      expect(writes.map((q) => `${q.method} ${q.uri}`)).toEqual([]);
    } finally {
      await registry.stop();
    }
  });
});
