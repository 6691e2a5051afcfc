/**
 * A container made from an image through the library: its folder, record, name and config.json (`create`),
 * a run, and what `finish` leaves (kept with its exit, or nothing); Docker's /etc files and anonymous
 * volumes; a failed create leaves nothing behind. (The CLI's run, ps, logs… are in run.test.ts and
 * containers.test.ts.)
 */
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadRoot, selectImage } from "../../src/oci/image.ts";
import { Container, etcMounts, runContainer } from "../../src/runtime/container.ts";
import type { RuntimeSpec } from "../../src/runtime/spec.ts";
import { findContainer, readContainer } from "../../src/runtime/state.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage } from "./helpers.ts";

let dir: string;
let layout: string;

beforeAll(async () => {
  dir = await tempDir("berth-container-");
  layout = join(dir, "layout");
  await busyboxImage(
    layout,
    "app",
    { cmd: ["sh", "-c", "cat /data/seed; echo $HOSTNAME; exit 7"], user: "app", volumes: ["/data"] },
    [[{ path: "data/seed", content: "from the image\n" }]],
  );
});

async function image() {
  const opened = await openSource(parseImageArgument(`oci:${layout}:app`), { home: dir, env: {} });
  return selectImage(await loadRoot(opened.source, opened.root));
}

describe("etcMounts", () => {
  it("/etc/hostname, hosts and resolv.conf bound from files in the container's folder", async () => {
    const d = await tempDir();
    const mounts = await etcMounts(d, "box", "none", "nameserver 10.0.2.3\n");
    expect(mounts).toEqual(
      ["hostname", "hosts", "resolv.conf"].map((n) => ({
        destination: `/etc/${n}`,
        type: "bind",
        source: join(d, `etc-${n}`),
        options: ["rbind", "rprivate"],
      })),
    );
    expect(await readFile(join(d, "etc-hostname"), "utf8")).toBe("box\n");
    expect(await readFile(join(d, "etc-hosts"), "utf8")).toBe(
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n",
    );
    expect(await readFile(join(d, "etc-resolv.conf"), "utf8")).toBe("nameserver 10.0.2.3\n");
    // The host network: the host's hosts and resolv.conf.
    const h = await tempDir();
    await etcMounts(h, "box", "host");
    expect(await readFile(join(h, "etc-hosts"), "utf8")).toBe(await readFile("/etc/hosts", "utf8"));
    expect(await readFile(join(h, "etc-resolv.conf"), "utf8")).toBe(
      await readFile("/etc/resolv.conf", "utf8"),
    );
  });
});

describe("Container", () => {
  it("create: record, name, config.json with the image's user, env, hostname and an anonymous volume", async () => {
    const home = await tempDir();
    const c = await Container.create({
      home,
      image: await image(),
      imageName: "app-image",
      name: "web",
      network: "none",
      keep: true,
    });
    try {
      expect(c.record).toMatchObject({
        schemaVersion: 1,
        id: c.id,
        name: "web",
        image: "app-image",
        command: ["sh", "-c", "cat /data/seed; echo $HOSTNAME; exit 7"],
        network: "none",
        autoRemove: false,
        detached: false,
      });
      expect((await findContainer(home, "web")).record.id).toBe(c.id);
      const spec = JSON.parse(await readFile(join(c.dir, "config.json"), "utf8")) as RuntimeSpec;
      expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 10] });
      expect(spec.process.env).toContain(`HOSTNAME=${c.id.slice(6, 18)}`);
      expect(spec.hostname).toBe(c.id.slice(6, 18));
      const volume = spec.mounts.find((m) => m.destination === "/data");
      expect(volume).toMatchObject({ type: "bind", source: join(c.dir, "volumes", "0") });
      expect(await readFile(join(c.dir, "volumes/0/seed"), "utf8")).toBe("from the image\n");
      const r = await c.run();
      expect([r.exitCode, r.stdoutTail]).toEqual([7, `from the image\n${c.id.slice(6, 18)}\n`]);
      await c.finish({ exitCode: r.exitCode, finishedAt: "2026-01-01T00:00:00Z" });
    } catch (err) {
      await c.finish();
      throw err;
    }
    // Kept: its exit recorded, no owner (never swept), the volume in its folder.
    const info = await readContainer(c.dir);
    expect(info).toMatchObject({ status: "exited", exit: { exitCode: 7 } });
    expect(await readdir(c.dir)).not.toContain("owner");
    expect(await readdir(join(c.dir, "volumes/0"))).toEqual(["seed"]);
  });

  it("runContainer --rm: the folder and its name go once the command ends", async () => {
    const home = await tempDir();
    const r = await runContainer({
      home,
      image: await image(),
      name: "gone",
      network: "none",
      args: ["true"],
      user: "0",
    });
    expect(r.exitCode).toBe(0);
    expect(r.kept).toBeUndefined();
    expect(await readdir(join(home, "run", "containers"))).toEqual([]);
    expect(await readdir(join(home, "run", "names"))).toEqual([]);
  });

  it("a create that fails (an unknown user) leaves no folder, name or mount behind", async () => {
    const home = await tempDir();
    await expect(
      Container.create({
        home,
        image: await image(),
        imageName: "app-image",
        name: "web",
        network: "none",
        user: "ghost",
      }),
    ).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
      message: 'user "ghost" is not in /etc/passwd of app-image',
    });
    expect(await readdir(join(home, "run", "containers"))).toEqual([]);
    expect(await readdir(join(home, "run", "names"))).toEqual([]);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(home);
  });

  it("refusals before anything is made: a bad name, --init without tini-static", async () => {
    const home = await tempDir();
    await expect(Container.create({ home, image: await image(), name: "-bad" })).rejects.toMatchObject({
      code: "USAGE",
    });
    const path = await tempDir();
    await mkdir(join(path, "bin"));
    await expect(
      Container.create({ home, image: await image(), init: true, searchPath: `/usr/sbin:${path}` }),
    ).rejects.toMatchObject({
      code: "RUNTIME_NOT_FOUND",
      message: "--init needs tini-static (a static tini), which is not installed",
    });
    expect(await readdir(home)).toEqual([]);
  });
});
