/** Container folders and the sweep of those a dead berth left: owners by pid and start time, kept folders spared. */
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mountOverlay } from "../../src/runtime/mount.ts";
import { findRuntime, type OciRuntime } from "../../src/runtime/runtime.ts";
import {
  adoptContainerDir,
  disownContainerDir,
  makeContainerDir,
  mountsUnder,
  sweepContainers,
  sweepLeftovers,
} from "../../src/runtime/sweep.ts";
import { ownerTag, selfIdentity } from "../../src/util/owner.ts";
import { containerFolder } from "../helpers/runtime.ts";
import { tempDir } from "../helpers/temp.ts";

const DEAD = "999999999 12345";
let runtime: OciRuntime;
beforeAll(async () => {
  runtime = await findRuntime();
});

describe("container folders", () => {
  it("makeContainerDir: a new berth-<16 hex> folder owned by this process, its state root beside it", async () => {
    const home = await tempDir();
    const c = await makeContainerDir(home, runtime);
    expect(c.id).toMatch(/^berth-[0-9a-f]{16}$/);
    expect(c.dir).toBe(join(home, "run", "containers", c.id));
    expect(c.stateDir).toBe(join(home, "run", "state"));
    expect((await readFile(join(c.dir, "owner"), "utf8")).trim()).toBe(selfIdentity());
    await disownContainerDir(c);
    expect(await readdir(c.dir)).toEqual([]);
    await adoptContainerDir(c.dir);
    expect((await readFile(join(c.dir, "owner"), "utf8")).trim()).toBe(selfIdentity());
  });
});

describe("sweepContainers", () => {
  it("removes folders of dead owners (state, name and all); spares live owners and kept folders", async () => {
    const home = await tempDir();
    await containerFolder(home, "berth-dead", { owner: DEAD, name: "web", claim: true, running: true });
    await containerFolder(home, "berth-live", { owner: selfIdentity() });
    await containerFolder(home, "berth-kept");
    await containerFolder(home, "berth-garbage", { owner: "not an identity" });
    expect((await sweepContainers(home, runtime)).sort()).toEqual(["berth-dead", "berth-garbage"]);
    expect((await readdir(join(home, "run", "containers"))).sort()).toEqual(["berth-kept", "berth-live"]);
    expect(await readdir(join(home, "run", "state"))).toEqual([]);
    await expect(readlink(join(home, "run", "names", "web"))).rejects.toMatchObject({ code: "ENOENT" });
    // Nothing left to sweep; a home without containers sweeps nothing.
    expect(await sweepContainers(home, runtime)).toEqual([]);
    expect(await sweepContainers(await tempDir(), runtime)).toEqual([]);
  });

  it("makeContainerDir sweeps first", async () => {
    const home = await tempDir();
    await containerFolder(home, "berth-dead", { owner: DEAD });
    const c = await makeContainerDir(home, runtime);
    expect(await readdir(join(home, "run", "containers"))).toEqual([c.id]);
  });
});

describe("sweepLeftovers", () => {
  it("containers only when a runtime is given and one is dead; dead owners' temp folders", async () => {
    const home = await tempDir();
    await containerFolder(home, "berth-dead", { owner: DEAD });
    await mkdir(join(home, "tmp"), { recursive: true });
    await mkdir(join(home, "tmp", "build-p999999999t12345"));
    await mkdir(join(home, "tmp", `build-p${selfIdentity().replace(" ", "t")}`));
    const first = await sweepLeftovers(home);
    expect(first).toEqual({ containers: [], temp: 1 });
    expect(await readdir(join(home, "run", "containers"))).toEqual(["berth-dead"]);
    let asked = 0;
    const second = await sweepLeftovers(home, {
      runtime: async () => {
        asked++;
        return runtime;
      },
    });
    expect(second).toEqual({ containers: ["berth-dead"], temp: 0 });
    await sweepLeftovers(home, {
      runtime: async () => {
        asked++;
        return runtime;
      },
    });
    expect(asked).toBe(1);
    expect(await readdir(join(home, "tmp"))).toHaveLength(1);
  });
});

describe("sweepLeftovers: snapshots a dead berth was making", () => {
  it("removes a dead owner's snapshot folder, its overlay unmounted first; spares one this process is making", async () => {
    const home = await tempDir();
    const tmp = join(home, "snapshots", "tmp");
    const dead = join(tmp, "0a0b0c0d0e0f-p999999999t12345-0a0b0c");
    const live = join(tmp, `stream-${ownerTag()}-0a0b0c`);
    await Promise.all(
      ["fs", "work", "merged", "lower"].map((d) => mkdir(join(dead, d), { recursive: true })),
    );
    await mkdir(join(live, "fs"), { recursive: true });
    const mounts = process.geteuid?.() === 0; // an overlay mount needs root
    if (mounts) {
      const [upperDir, workDir, target] = ["fs", "work", "merged"].map((d) => join(dead, d)) as [
        string,
        string,
        string,
      ];
      await mountOverlay({ lowerDirs: [join(dead, "lower")], upperDir, workDir, target });
      expect(await mountsUnder(dead)).toEqual([target]);
    }
    try {
      expect(await sweepLeftovers(home)).toEqual({ containers: [], temp: 1 });
      expect(await readdir(tmp)).toEqual([basename(live)]);
      expect(await mountsUnder(home)).toEqual([]);
    } finally {
      for (const point of await mountsUnder(home)) execFileSync("umount", [point]);
    }
  });
});

describe("mountsUnder", () => {
  it("lists the mount points at and below a folder, deepest first, not beside it, with blanks in their names", async () => {
    const dir = await tempDir();
    expect(await mountsUnder(dir)).toEqual([]);
    if (process.geteuid?.() !== 0) return; // mounting a tmpfs needs root
    const outer = join(dir, "a b");
    const inner = join(outer, "tab\there");
    const beside = `${dir}-beside`;
    await mkdir(outer, { recursive: true });
    await mkdir(beside);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", outer]);
    await mkdir(inner);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", inner]);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", beside]);
    try {
      expect(await mountsUnder(dir)).toEqual([inner, outer]);
      expect(await mountsUnder(inner)).toEqual([inner]);
    } finally {
      execFileSync("umount", [inner]);
      execFileSync("umount", [outer]);
      execFileSync("umount", [beside]);
      execFileSync("rmdir", [beside]);
    }
  });
});
