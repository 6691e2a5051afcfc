/**
 * src/cli/commands/edit.ts: `berth append`, `mutate` and `export` through the real CLI (umoci and GNU tar
 * check what they write), and the parser of `--entrypoint`/`--cmd` values.
 */
import { chmod, link, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseCommand } from "../../../src/cli/commands/edit.ts";
import { BerthError } from "../../../src/errors.ts";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { readIndex } from "../../helpers/layout.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";

let dir: string;
let home: string;

async function makeTree(root: string, order: string[]): Promise<void> {
  const files: Record<string, () => Promise<void>> = {
    a: async () => {
      await mkdir(join(root, "bin"), { recursive: true });
      await writeFile(join(root, "bin/tool"), "#!/bin/sh\necho tool\n");
      await chmod(join(root, "bin/tool"), 0o755);
    },
    b: async () => {
      await mkdir(join(root, "etc/conf.d"), { recursive: true });
      await writeFile(join(root, "etc/conf.d/app.conf"), "x=1\n");
    },
    c: async () => {
      await mkdir(join(root, "bin"), { recursive: true });
      await symlink("tool", join(root, "bin/alias")).catch(() => undefined);
    },
    d: async () => {
      await mkdir(join(root, "share"), { recursive: true });
      await writeFile(join(root, "share/data"), "shared bytes");
      await link(join(root, "share/data"), join(root, "share/data-link"));
    },
  };
  for (const k of order) await files[k]!();
}

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
});

describe("berth append", () => {
  it("is reproducible: other mtimes, creation order and umask give the same manifest digest", async () => {
    const t1 = join(dir, "tree1");
    const t2 = join(dir, "tree2");
    await makeTree(t1, ["a", "b", "c", "d"]);
    const old = process.umask(0o077);
    try {
      await makeTree(t2, ["d", "c", "b", "a"]);
    } finally {
      process.umask(old);
    }
    await chmod(join(t2, "etc/conf.d/app.conf"), 0o644);
    await chmod(join(t2, "share/data"), 0o644);
    for (const p of ["", "bin", "etc", "etc/conf.d", "share"]) await chmod(join(t2, p), 0o755);
    await utimes(join(t2, "bin/tool"), 12345, 67890);
    const a = await berth(["append", "scratch", `${t1}:/app`, "-t", `oci:${join(dir, "r1")}:x`], { home });
    const b = await berth(["append", "scratch", `${t2}:/app`, "-t", `oci:${join(dir, "r2")}:x`], { home });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const d1 = (await readIndex(join(dir, "r1"))).manifests[0]!.digest;
    expect((await readIndex(join(dir, "r2"))).manifests[0]!.digest).toBe(d1);
    const again = await berth(["append", "scratch", `${t1}:/app`, "-t", `oci:${join(dir, "r3")}:x`], {
      home,
    });
    expect(again.code).toBe(0);
    expect((await readIndex(join(dir, "r3"))).manifests[0]!.digest).toBe(d1);
  });

  it("umoci unpacks what berth appends with files, modes, symlinks and hardlinks as on disk; GNU tar agrees", async () => {
    const base = join(dir, "base");
    await umociImage(base, "b", [[{ path: "etc/os-release", content: "ID=test\n" }]], { env: ["PATH=/bin"] });
    const tree = join(dir, "tree1");
    const r = await berth(["append", `oci:${base}:b`, `${tree}:/app`, "-t", `oci:${base}:appended`], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    const bundle = join(dir, "appended-bundle");
    await run("umoci", ["unpack", "--image", `${base}:appended`, bundle]);
    const root = join(bundle, "rootfs");
    expect(await readFile(join(root, "etc/os-release"), "utf8")).toBe("ID=test\n");
    expect((await stat(join(root, "app/bin/tool"))).mode & 0o7777).toBe(0o755);
    expect(await readlink(join(root, "app/bin/alias"))).toBe("tool");
    const [s1, s2] = await Promise.all([
      stat(join(root, "app/share/data")),
      stat(join(root, "app/share/data-link")),
    ]);
    expect(s1.ino).toBe(s2.ino);
    const manifest = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${base}:appended`]));
    const layer = join(base, "blobs", ...manifest.layers[1].digest.split(":"));
    const listing = await run("tar", ["-tzvf", layer]);
    expect(listing).toMatch(
      /hrw-r--r-- 0\/0 +0 1970-01-01 00:00 app\/share\/data-link link to app\/share\/data/,
    );
    expect(listing).toMatch(/lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 app\/bin\/alias -> tool/);
    const cfg = JSON.parse(await run("skopeo", ["inspect", "--config", "--raw", `oci:${base}:appended`]));
    expect(cfg.config.Env).toEqual(["PATH=/bin"]);
    expect(cfg.rootfs.diff_ids).toHaveLength(2);
  });

  it("honours --exclude, --owner, zstd and SOURCE_DATE_EPOCH", async () => {
    const tree = join(dir, "tree1");
    const out = `oci:${join(dir, "opts")}:x`;
    const r = await berth(
      [
        "append",
        "scratch",
        tree,
        "-t",
        out,
        "--exclude",
        "share",
        "--owner",
        "1000:1000",
        "--compression",
        "zstd",
      ],
      { home, env: { SOURCE_DATE_EPOCH: "1700000000" } },
    );
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await run("skopeo", ["inspect", "--raw", out]));
    expect(manifest.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    const blob = join(dir, "opts", "blobs", ...manifest.layers[0].digest.split(":"));
    const listing = await run("bash", ["-c", `zstd -dc '${blob}' | tar -tvf -`]);
    expect(listing).not.toContain("share/");
    expect(listing).toContain("1000/1000");
    expect(listing).toContain("2023-11-14");
    const cfg = JSON.parse(await run("skopeo", ["inspect", "--config", "--raw", out]));
    expect(cfg.created).toBe("2023-11-14T22:13:20Z");
  });

  it("refuses a missing directory clearly and writes nothing", async () => {
    const r = await berth(["append", "scratch", join(dir, "nope"), "-t", `oci:${join(dir, "never")}:x`], {
      home,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(join(dir, "nope"));
    expect(await stat(join(dir, "never")).catch(() => undefined)).toBeUndefined();
  });
});

describe("berth mutate and export", () => {
  it("changes the config and keeps the layers", async () => {
    const base = join(dir, "base");
    const r = await berth(
      [
        "mutate",
        `oci:${base}:appended`,
        "-t",
        `oci:${base}:mutated`,
        "--env",
        "PATH=/usr/bin",
        "--env",
        "PORT=80",
        "--entrypoint",
        '["/app/bin/tool"]',
        "--cmd",
        "serve --fast",
        "--workdir",
        "/app",
        "--user",
        "1000:1000",
        "--label",
        "k=v",
        "--expose",
        "8080",
        "--expose",
        "53/udp",
      ],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(await run("skopeo", ["inspect", "--config", "--raw", `oci:${base}:mutated`]));
    expect(cfg.config).toMatchObject({
      Env: ["PATH=/usr/bin", "PORT=80"],
      Entrypoint: ["/app/bin/tool"],
      Cmd: ["/bin/sh", "-c", "serve --fast"],
      WorkingDir: "/app",
      User: "1000:1000",
      Labels: { k: "v" },
      ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
    });
    const before = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${base}:appended`]));
    const after = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${base}:mutated`]));
    expect(after.layers).toEqual(before.layers);
    const bad = await berth(["mutate", `oci:${base}:appended`, "-t", "x:1", "--entrypoint", "[oops"], {
      home,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--entrypoint [oops is not a valid JSON array");
  });

  it("export applies whiteouts as umoci does", async () => {
    const layered = join(dir, "layered");
    await umociImage(layered, "l", [
      [
        { path: "keep/a", content: "a" },
        { path: "gone/b", content: "b" },
        { path: "opq/old", content: "old" },
      ],
      [
        { path: "gone", delete: true },
        { path: "opq", delete: true },
        { path: "opq/new", content: "new" },
      ],
    ]);
    const file = join(dir, "fs.tar");
    const r = await berth(["export", `oci:${layered}:l`, "-o", file], { home });
    expect(r.code, r.stderr).toBe(0);
    const names = (await run("tar", ["-tf", file]))
      .split("\n")
      .filter(Boolean)
      .map((n) => n.replace(/\/$/, ""))
      .sort();
    expect(names).toEqual(["keep", "keep/a", "opq", "opq/new"]);
    await run("umoci", ["unpack", "--image", `${layered}:l`, join(dir, "layered-bundle")]);
    const umociNames = (
      await run("bash", [
        "-c",
        `cd '${join(dir, "layered-bundle/rootfs")}' && find . -mindepth 1 | sed 's|^./||' | sort`,
      ])
    )
      .split("\n")
      .filter(Boolean);
    expect(names).toEqual(umociNames);
  });
});

describe("parseCommand (--entrypoint, --cmd)", () => {
  it("takes a JSON array of strings as it is, and [] or nothing as a reset", () => {
    expect(parseCommand('["/app", "--port", "8080"]', "--cmd")).toEqual(["/app", "--port", "8080"]);
    expect(parseCommand("  []  ", "--cmd")).toBeNull();
    expect(parseCommand("", "--entrypoint")).toBeNull();
    expect(parseCommand("   ", "--entrypoint")).toBeNull();
  });

  it("runs a plain command line through /bin/sh -c, untrimmed, as docker's shell form", () => {
    expect(parseCommand(" echo $HOME ", "--cmd")).toEqual(["/bin/sh", "-c", " echo $HOME "]);
  });

  it("refuses bad JSON and arrays of non-strings, naming the flag", () => {
    const refused = (value: string, flag: string) => {
      try {
        parseCommand(value, flag);
      } catch (err) {
        expect(err).toBeInstanceOf(BerthError);
        return [(err as BerthError).code, (err as BerthError).message];
      }
      throw new Error(`${value} was taken`);
    };
    expect(refused('["a",', "--cmd")).toEqual(["USAGE", '--cmd ["a", is not a valid JSON array']);
    expect(refused('["a", 1]', "--entrypoint")).toEqual([
      "USAGE",
      "--entrypoint must be a JSON array of strings or a plain command line",
    ]);
  });
});
