/** RUN: the command in the sandbox, its env, mounts and history, and what it leaves as the layer (src/dockerfile/instructions/run.ts). */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { mountsUnder } from "../../../src/runtime/sweep.ts";
import { tempDir } from "../../helpers/temp.ts";
import { removeCgroupParent, rootMountRefusingRunc } from "../../runtime/helpers.ts";
import { failureOf } from "../helpers/failure.ts";
import { localBase, writeContext } from "../helpers/local.ts";
import { layerEntries, scratchBuild } from "../helpers/scratch.ts";

describe("RUN", () => {
  let base: string;
  let context: string;
  beforeAll(async () => {
    const dir = await tempDir();
    base = await localBase(join(dir, "base"));
    context = await writeContext(join(dir, "context"), { "in.txt": "from the context\n" });
  });
  const build = async (body: string, o: Parameters<typeof scratchBuild>[3] = {}) => {
    const out: string[] = [];
    const r = await scratchBuild(await tempDir(), context, `FROM ${base}\n${body}`, {
      onOutput: (chunk) => out.push(chunk.toString()),
      ...o,
    });
    return { ...r, output: out.join("") };
  };

  it("shell form through the stage's shell, build args as env unless ENV sets them, BuildKit's history", async () => {
    const { image, output } = await build(
      'ARG A=arg B=arg\nENV B=env\nRUN echo "$A $B" > /out.txt && echo done\n',
    );
    expect(output).toBe("done\n");
    const layer = await layerEntries(image, image.layers().length - 1);
    expect(layer).toContain("out.txt file 644 0:0");
    expect(image.config?.history?.at(-1)?.created_by).toBe(
      'RUN |2 A=arg B=env /bin/sh -c echo "$A $B" > /out.txt && echo done # buildkit',
    );
  });

  it("exec form, a heredoc, a bind mount of the context and a secret as env, none left in the layer", async () => {
    const { output, image } = await build(
      [
        'RUN ["/bin/sh", "-c", "echo exec"]',
        "RUN <<EOF",
        "echo heredoc",
        "EOF",
        "RUN --mount=type=bind,target=/ctx --mount=type=secret,id=tok,env=TOKEN cat /ctx/in.txt && echo $TOKEN && ls /ctx /run/secrets 2>&1 | wc -l",
        "",
      ].join("\n"),
      { secrets: { tok: { env: "TOK", value: "s3cret" } } },
    );
    expect(output.split("\n").slice(0, 4)).toEqual(["exec", "heredoc", "from the context", "s3cret"]);
    const last = await layerEntries(image, image.layers().length - 1);
    expect(last.filter((e) => e.startsWith("ctx") || e.includes("secrets"))).toEqual([]);
    expect(JSON.stringify(image.config)).not.toContain("s3cret");
  });

  it("BUILDKIT_SANDBOX_HOSTNAME names the sandbox (a part of the key); BUILDKIT_CACHE_MOUNT_NS keeps caches apart", async () => {
    const dir = await tempDir();
    const text = `FROM ${base}\nRUN --mount=type=cache,target=/c hostname && grep -c localhost /etc/hosts && ls /c && touch /c/seen\n`;
    const run = async (o: Parameters<typeof scratchBuild>[3]) => {
      const out: string[] = [];
      const r = await scratchBuild(dir, context, text, { onOutput: (c) => out.push(c.toString()), ...o });
      return { cached: r.result.steps.at(-1)!.cached, output: out.join("") };
    };
    // BuildKit's default name; the cache mount empty at first
    expect(await run({})).toEqual({ cached: false, output: "buildkitsandbox\n2\n" });
    // another name re-runs the step; the cache has what the first run left
    expect(await run({ hostname: "builder-7" })).toEqual({ cached: false, output: "builder-7\n2\nseen\n" });
    expect((await run({ hostname: "builder-7" })).cached).toBe(true);
    // a namespace is another cache (its id NS/ID), and another step
    expect(await run({ hostname: "builder-7", cacheMountNamespace: "team-a" })).toEqual({
      cached: false,
      output: "builder-7\n2\n",
    });
  });

  it("a failing command names the step and its exit code; --security=insecure is refused", async () => {
    const failed = await failureOf(build("RUN exit 3\n"));
    expect(failed.message).toBe('Dockerfile:2: RUN ["/bin/sh","-c","exit 3"] exited with code 3');
    expect(await failureOf(build("RUN --security=insecure true\n"))).toEqual({
      code: "DOCKERFILE_UNSUPPORTED",
      message: "Dockerfile:2: RUN --security=insecure is not supported (berth runs every step sandboxed)",
    });
  });

  it("a bind mount from a stage reads its read-only root: links resolve inside the stage, nothing is written back", async () => {
    const dir = await tempDir();
    // A host folder whose path the stage's link names; the stage has its own folder at that path.
    const host = join(dir, "host");
    await writeContext(host, { secret: "host only\n" });
    const out: string[] = [];
    const { image } = await scratchBuild(
      dir,
      context,
      [
        `FROM ${base} AS files`,
        `RUN mkdir -p ${host} /d && echo stage > ${host}/secret && ln -s ${host} /hostdir && echo kept > /d/f`,
        `FROM ${base}`,
        "RUN --mount=type=bind,from=files,source=/hostdir,target=/m cat /m/secret && (touch /m/new 2>/dev/null || echo refused)",
        "RUN --mount=type=bind,from=files,source=/d,target=/m,rw echo changed > /m/f && cat /m/f",
        "COPY --from=files /d/ /copied/",
        "",
      ].join("\n"),
      { onOutput: (chunk) => out.push(chunk.toString()), stageJobs: 1 },
    );
    expect(out.join("")).toBe("stage\nrefused\nchanged\n");
    // snapshots: the base, the first RUN's layer below the second RUN, and the stage's RUN layer its root is made of
    expect(await readdir(join(dir, "home", "snapshots", "overlay"))).toHaveLength(3);
    expect(await layerEntries(image, image.layers().length - 1)).toEqual([
      "copied dir 755 0:0",
      "copied/f file 644 0:0",
    ]);
    expect(await mountsUnder(dir)).toEqual([]);
  });

  it("a RUN leaves the same layers whether runc mounts the root or berth does (the fallback when it refuses)", async () => {
    // /etc/group becomes a link into /data, which the next RUN removes and makes again (an opaque dir in
    // its snapshot): the user's groups must not come from the hidden /data/etc/group.
    const body = [
      "RUN mkdir -p /data/etc /opq && echo staff:x:50:app > /data/etc/group && rm /etc/group && ln -s /data/etc/group /etc/group && touch /opq/old",
      "RUN rm -rf /data /opq && mkdir -p /data/etc /opq && echo app:x:1234:1234::/home/app2:/bin/sh > /data/etc/passwd && rm /etc/passwd && ln -s ../data/etc/passwd /etc/passwd && rm /var/lib/old/data && touch /opq/new",
      "USER app",
      "WORKDIR /tmp/work",
      'RUN --mount=type=tmpfs,target=/tmp/t/mnt --mount=type=bind,target=/ctx echo "$(id) $HOME $(pwd) $(ls /opq)" | tee out',
      "",
    ].join("\n");
    const dir = await tempDir();
    const refusing = await rootMountRefusingRunc(dir);
    const a = await build(body, { sourceDateEpoch: 0 });
    const b = await build(body, { sourceDateEpoch: 0, runtime: refusing.path });
    const line = "uid=1234(app) gid=1234 /home/app2 /tmp/work new\n";
    expect(a.output).toBe(line);
    expect(b.output).toBe(line);
    expect(a.image.imageConfig().rootfs.diff_ids).toEqual(b.image.imageConfig().rootfs.diff_ids);
    // The mount points (/tmp/t/mnt, /ctx) and /etc's bind targets are not in the layer.
    expect(await layerEntries(a.image, a.image.layers().length - 1)).toEqual([
      "tmp dir 1777 0:0",
      "tmp/work dir 755 1234:1234",
      "tmp/work/out file 644 1234:1234",
    ]);
    // The wrapper refused the first RUN's runtime-mounted root; berth mounted that one and every later one.
    const runs = (await readFile(refusing.log, "utf8")).split("\n").filter((l) => / run /.test(l));
    expect(runs).toHaveLength(4);
  });
  it("--shm-size, --ulimit and --cgroup-parent: RUN's /dev/shm, rlimits and cgroup, and part of its key as in BuildKit's ExecOp", async () => {
    const parent = `berth-test-${process.pid}-run`;
    onTestFinished(() => removeCgroupParent(parent));
    const body =
      "RUN df -k /dev/shm | tail -1; grep /dev/shm /proc/mounts; ulimit -n; ulimit -Hn; grep -E ':(memory|pids):' /proc/self/cgroup\n";
    const limits = {
      shmSize: 96 * 1024 * 1024,
      ulimits: [{ type: "RLIMIT_NOFILE", soft: 900, hard: 1800 }],
      cgroupParent: parent,
    };
    const dir = await tempDir();
    const out: string[] = [];
    const at = (o: Parameters<typeof scratchBuild>[3]) =>
      scratchBuild(dir, context, `FROM ${base}\n${body}`, {
        ...o,
        onOutput: (chunk) => out.push(chunk.toString()),
      });
    const ran = (r: Awaited<ReturnType<typeof at>>) => !r.result.steps.at(-1)!.cached;
    const first = await at(limits);
    const [df, mount, soft, hard, ...cgroups] = out.join("").trim().split("\n");
    // 96 MiB in 1K blocks; the tmpfs BuildKit's frontend mounts (nosuid, the size) in place of the default
    expect(df!.split(/\s+/).slice(0, 2)).toEqual(["tmpfs", String(96 * 1024)]);
    expect(mount).toBe("tmpfs /dev/shm tmpfs rw,nosuid,relatime,size=98304k 0 0");
    expect([soft, hard]).toEqual(["900", "1800"]);
    expect(cgroups.length).toBeGreaterThan(0);
    for (const line of cgroups) expect(line).toMatch(new RegExp(`:/${parent}/buildkit/[^/]+$`));
    expect(ran(first)).toBe(true);
    expect(ran(await at(limits))).toBe(false);
    // each is part of the step's key (BuildKit digests the ExecOp with its mounts and Meta)
    expect(ran(await at({ ...limits, shmSize: 64 * 1024 * 1024 }))).toBe(true);
    expect(ran(await at({ ...limits, ulimits: [{ type: "RLIMIT_NOFILE", soft: 900, hard: 1900 }] }))).toBe(
      true,
    );
    expect(ran(await at({ ...limits, cgroupParent: `${parent}-b` }))).toBe(true);
    onTestFinished(() => removeCgroupParent(`${parent}-b`));
    // without any, the key a build without them always had: the default 64 MiB /dev/shm
    out.length = 0;
    expect(ran(await at({}))).toBe(true);
    expect(out.join("").split("\n")[0]!.split(/\s+/).slice(0, 2)).toEqual(["shm", "65536"]);
    expect(ran(await at({}))).toBe(false);
  });
});
