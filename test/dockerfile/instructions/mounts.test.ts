/** RUN --mount: the option parsed as BuildKit does, and the cache dirs, secret files and SSH sockets it needs (src/dockerfile/instructions/mounts.ts). */
import { lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  leaseCacheDir,
  mountKey,
  parseMount,
  secretFile,
  secretValue,
  sshProxy,
} from "../../../src/dockerfile/instructions/mounts.ts";
import { tempDir } from "../../helpers/temp.ts";
import { failure } from "../helpers/failure.ts";

describe("parseMount", () => {
  it("defaults: a bind of the context root, read-only; cache and tmpfs writable", () => {
    expect(parseMount("target=/src")).toEqual({
      type: "bind",
      target: "/src",
      source: "/",
      readonly: true,
      required: false,
    });
    expect(parseMount("type=cache,target=c,id=x,sharing=LOCKED,mode=0700,uid=1,gid=2", "/work")).toEqual({
      type: "cache",
      target: "/work/c",
      id: "x",
      sharing: "locked",
      mode: 0o700,
      uid: 1,
      gid: 2,
      readonly: false,
      required: false,
    });
    // BuildKit's default cache id: the target as written, so one cache in every WORKDIR
    expect(parseMount("type=cache,target=./c/", "/work")).toMatchObject({ id: "c", target: "/work/c" });
    expect(parseMount("type=cache,target=c", "/other").id).toBe("c");
    expect(parseMount("type=bind,from=build,src=/out,dst=/in,rw").readonly).toBe(false);
    expect(parseMount("type=bind,target=/x,readonly=false").readonly).toBe(false);
    expect(parseMount("type=cache,target=/x,ro").readonly).toBe(true);
    // an empty from is none (BuildKit: the context for a bind)
    expect(parseMount("type=bind,from=,target=/x")).toEqual(parseMount("type=bind,target=/x"));
    expect(parseMount("type=cache,from=,target=/x")).toEqual(parseMount("type=cache,target=/x"));
  });

  it("tmpfs sizes in Docker's binary units", () => {
    expect(
      ["64m", "1g", "512k", "1048576", "1.5MiB"].map((s) => parseMount(`type=tmpfs,dst=/t,size=${s}`).size),
    ).toEqual([64 * 2 ** 20, 2 ** 30, 512 * 1024, 1048576, 1.5 * 2 ** 20]);
  });

  it("secrets: id from source, id or the target's name; the file at /run/secrets/ID unless env only", () => {
    expect(parseMount("type=secret,id=tok")).toEqual({
      type: "secret",
      id: "tok",
      target: "/run/secrets/tok",
      readonly: true,
      required: false,
    });
    expect(parseMount("type=secret,source=aws,target=/root/.aws/credentials,required").id).toBe("aws");
    expect(parseMount("type=secret,target=/etc/key").id).toBe("key");
    expect(parseMount("type=secret,id=tok,env=TOKEN")).toMatchObject({ target: "", env: "TOKEN" });
  });

  it("ssh: id default, a socket per index", () => {
    expect(parseMount("type=ssh", "/", 2)).toEqual({
      type: "ssh",
      id: "default",
      target: "/run/buildkit/ssh_agent.2",
      readonly: true,
      required: false,
    });
  });

  it("refuses what BuildKit refuses, quoting the option", () => {
    const why = (text: string) => failure(() => parseMount(text));
    expect(why("type=volume,target=/x")).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message:
        '--mount=type=volume,target=/x: unsupported mount type "volume" (bind, cache, tmpfs, secret, ssh are)',
    });
    const cases: [string, string][] = [
      ["target=/x,bogus", "invalid field 'bogus' must be a key=value pair"],
      ["target=/x,required", "unexpected key 'required' for mount type 'bind'"],
      ["target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"],
      ["type=tmpfs,target=/x,size=lots", "invalid value for size: lots"],
      ["target=/x,color=red", "unexpected key 'color' in 'color=red'"],
      ["target=/x,ro=maybe", "invalid value for ro: maybe"],
      ["type=cache,target=/x,sharing=all", 'unsupported sharing value "all" (shared, private, locked are)'],
      ["type=cache,target=/x,mode=rw", "invalid value rw for mode"],
      ["type=cache,target=/x,uid=-1", "invalid value -1 for uid"],
      ["type=bind,target=/x,mode=0755", 'mode not allowed for "bind" type mounts'],
      ["type=tmpfs,target=/x,sharing=private", "invalid cache sharing set for tmpfs mount"],
      ["type=secret,id=a,from=b", "secret mount should not have a from"],
      ["type=secret", "invalid secret mount. one of source, target required"],
      ["type=secret,id=a,source=b", "both source and id can't be set"],
      ["type=ssh,source=/agent", "ssh does not support source"],
      ["type=cache", "needs target="],
      ["type=cache,target=/x/..", 'invalid mount target "/"'],
    ];
    for (const [text, message] of cases) expect(why(text).message).toBe(`--mount=${text}: ${message}`);
  });
});

describe("mountKey", () => {
  const key = (text: string) => mountKey(parseMount(text));

  it("a cache mount: BuildKit's defaults written out, so the default spelled out is the same key", () => {
    expect(key("type=cache,target=/c")).toEqual(key("type=cache,target=/c,id=/c,sharing=shared,rw"));
    expect(key("type=cache,from=b,source=data/,target=/c")).toEqual(
      key("type=cache,from=b,src=/data,target=/c"),
    );
    for (const changed of ["id=x", "sharing=locked", "sharing=private", "ro", "source=/other"])
      expect(key(`type=cache,target=/c,source=/d,${changed}`)).not.toEqual(
        key("type=cache,target=/c,source=/d"),
      );
    expect(key("type=cache,target=/c2")).not.toEqual(key("type=cache,target=/c"));
  });

  it("mode, uid and gid only without a source (the frontend drops them with one)", () => {
    for (const o of ["mode=0700", "uid=1", "gid=1"]) {
      expect(key(`type=cache,target=/c,${o}`)).not.toEqual(key("type=cache,target=/c"));
      expect(key(`type=cache,target=/c,source=/s,${o}`)).toEqual(key("type=cache,target=/c,source=/s"));
    }
  });

  it("no mount's key names its source stage or image (what it reads is keyed on its own)", () => {
    expect(key("type=cache,from=a,source=/s,target=/c")).toEqual(
      key("type=cache,from=b,source=/s,target=/c"),
    );
    expect(key("type=bind,from=a,source=/s,target=/c")).toEqual(key("type=bind,from=b,source=/s,target=/c"));
    expect(key("type=bind,source=/s,target=/c")).not.toEqual(key("type=bind,source=/t,target=/c"));
  });
});

describe("leaseCacheDir", () => {
  const cache = { type: "cache", target: "/c", readonly: false, required: false } as const;

  it("keeps one directory per id across leases, made with the mode and owner asked", async () => {
    const home = await tempDir();
    const a = await leaseCacheDir(home, { ...cache, id: "x", mode: 0o700, uid: 7, gid: 8 }, undefined);
    await writeFile(join(a.dir, "kept"), "1");
    await a.release();
    const st = await stat(a.dir);
    expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o700, 7, 8]);
    const again = await leaseCacheDir(
      home,
      { ...cache, target: "/other", id: "x", mode: 0o700, uid: 7, gid: 8 },
      undefined,
    );
    expect(again.dir).toBe(a.dir);
    expect(await readdir(again.dir)).toEqual(["kept"]);
    // another mode or owner is another directory, as BuildKit's mkdir snapshot is another source
    const plain = await leaseCacheDir(home, { ...cache, id: "x" }, undefined);
    expect(plain.dir).not.toBe(a.dir);
    expect(await readdir(plain.dir)).toEqual([]);
    const other = await leaseCacheDir(home, cache, undefined);
    expect(other.dir).not.toBe(a.dir);
    expect((await stat(other.dir)).mode & 0o777).toBe(0o755);
    // with a source, mode and owner are not the mount's to set (BuildKit's frontend drops them)
    const sourced = await leaseCacheDir(
      home,
      { ...cache, id: "y", source: "/s", mode: 0o700, uid: 7 },
      undefined,
    );
    expect([(await stat(sourced.dir)).mode & 0o777, (await stat(sourced.dir)).uid]).toEqual([0o755, 0]);
  });

  it("starts a seeded directory as a copy of the seed, links kept as links", async () => {
    const home = await tempDir();
    const seed = join(home, "seed");
    await mkdir(seed);
    await writeFile(join(seed, "f"), "seeded");
    await symlink("/etc/passwd", join(seed, "link"));
    const l = await leaseCacheDir(home, { ...cache, from: "s", source: "/" }, { id: "stage s", path: seed });
    expect(await readFile(join(l.dir, "f"), "utf8")).toBe("seeded");
    expect((await lstat(join(l.dir, "link"))).isSymbolicLink()).toBe(true);
    const unseeded = await leaseCacheDir(home, cache, undefined);
    expect(unseeded.dir).not.toBe(l.dir);
  });

  it("private: another instance while one is in use; locked: waits for the holder", async () => {
    const home = await tempDir();
    const p1 = await leaseCacheDir(home, { ...cache, sharing: "private" }, undefined);
    const p2 = await leaseCacheDir(home, { ...cache, sharing: "private" }, undefined);
    expect(p2.dir).toBe(`${p1.dir}-1`);
    await p1.release();
    const p3 = await leaseCacheDir(home, { ...cache, sharing: "private" }, undefined);
    expect(p3.dir).toBe(p1.dir);
    await Promise.all([p2.release(), p3.release()]);

    const order: string[] = [];
    const l1 = await leaseCacheDir(home, { ...cache, sharing: "locked" }, undefined);
    const second = leaseCacheDir(home, { ...cache, sharing: "locked" }, undefined).then((l) => {
      order.push("second");
      return l;
    });
    await new Promise((r) => setTimeout(r, 200));
    order.push("released");
    await l1.release();
    const l2 = await second;
    expect(order).toEqual(["released", "second"]);
    expect(l2.dir).toBe(l1.dir);
    await l2.release();
  });
});

describe("secrets and ssh", () => {
  it("a secret's value from a file or the environment; its file 0400 root's unless asked", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "src"), "from file");
    expect((await secretValue({ file: join(dir, "src") })).toString()).toBe("from file");
    expect((await secretValue({ env: "TOKEN", value: "from env" })).toString()).toBe("from env");
    const m = parseMount("type=secret,id=s");
    const plain = await secretFile(join(dir, "secrets"), Buffer.from("v"), m);
    const st = await stat(plain);
    expect([st.mode & 0o777, st.uid, st.gid, (await stat(join(dir, "secrets"))).mode & 0o777]).toEqual([
      0o400, 0, 0, 0o700,
    ]);
    const owned = await stat(
      await secretFile(
        join(dir, "secrets"),
        Buffer.from("v"),
        parseMount("type=secret,id=s,mode=0440,uid=5,gid=6"),
      ),
    );
    expect([owned.mode & 0o777, owned.uid, owned.gid]).toEqual([0o440, 5, 6]);
    expect(await readFile(plain, "utf8")).toBe("v");
  });

  it("an SSH socket of its own (0600) forwards each connection to the agent", async () => {
    const dir = await tempDir();
    const agentPath = join(dir, "agent");
    const agent = createServer((c) => c.on("data", (d) => c.end(`agent got ${d}`)));
    await new Promise<void>((r) => agent.listen(agentPath, r));
    const proxy = await sshProxy(agentPath, parseMount("type=ssh"));
    try {
      expect((await stat(proxy.path)).mode & 0o777).toBe(0o600);
      const reply = await new Promise<string>((resolve, reject) => {
        const c = createConnection(proxy.path, () => c.write("hello"));
        let text = "";
        c.on("data", (d) => {
          text += d;
        });
        c.on("end", () => resolve(text));
        c.on("error", reject);
      });
      expect(reply).toBe("agent got hello");
    } finally {
      await proxy.close();
      await new Promise((r) => agent.close(r));
    }
    expect(await lstat(proxy.path).catch((e: NodeJS.ErrnoException) => e.code)).toBe("ENOENT");
  });
});
