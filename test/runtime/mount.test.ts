/** overlayfs mounts through mount(8), the overlay probe and its memo, and the overlay xattrs read and stripped. */
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { release, userInfo } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  currentBootId,
  forgetOverlaySupport,
  mountOverlay,
  overlaySupported,
  overlayXattrReader,
  stripOverlayOrigins,
  unmount,
  unmountAll,
} from "../../src/runtime/mount.ts";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";

const xattrs = (p: string) =>
  run("getfattr", ["-h", "--absolute-names", "-d", "-m", "^trusted\\.overlay\\.", p]);

describe("mountOverlay", () => {
  it("mounts lower dirs (top first, relative to base) under an upper dir; unmount undoes it", async () => {
    const base = await tempDir();
    for (const d of ["l1", "l2", "u", "w", "m"]) await mkdir(join(base, d));
    await writeFile(join(base, "l1/f"), "bottom");
    await writeFile(join(base, "l2/f"), "top");
    await writeFile(join(base, "l1/only-bottom"), "b");
    await mountOverlay({
      lowerDirs: [join(base, "l2"), join(base, "l1")],
      upperDir: join(base, "u"),
      workDir: join(base, "w"),
      target: join(base, "m"),
      base,
      volatile: true,
    });
    try {
      expect(await readFile(join(base, "m/f"), "utf8")).toBe("top");
      await writeFile(join(base, "m/new"), "changed");
      expect((await readdir(join(base, "m"))).sort()).toEqual(["f", "new", "only-bottom"]);
    } finally {
      await unmount(join(base, "m"));
    }
    expect(await readdir(join(base, "m"))).toEqual([]);
    expect(await readFile(join(base, "u/new"), "utf8")).toBe("changed");
  });

  it("lower dirs alone: a read-only mount (whiteouts hide, nothing is written through); it needs two", async () => {
    const base = await tempDir();
    for (const d of ["l1", "l2", "m"]) await mkdir(join(base, d));
    await writeFile(join(base, "l1/f"), "bottom");
    await writeFile(join(base, "l1/gone"), "deleted above");
    await writeFile(join(base, "l2/f"), "top");
    await run("mknod", [join(base, "l2/gone"), "c", "0", "0"]);
    await mountOverlay({ lowerDirs: [join(base, "l2"), join(base, "l1")], target: join(base, "m"), base });
    try {
      expect(await readdir(join(base, "m"))).toEqual(["f"]);
      expect(await readFile(join(base, "m/f"), "utf8")).toBe("top");
      await expect(writeFile(join(base, "m/new"), "x")).rejects.toMatchObject({ code: "EROFS" });
      await expect(writeFile(join(base, "m/f"), "x")).rejects.toMatchObject({ code: "EROFS" });
    } finally {
      await unmount(join(base, "m"));
    }
    expect([await readdir(join(base, "l1")), await readdir(join(base, "l2"))]).toEqual([
      ["f", "gone"],
      ["f", "gone"],
    ]);
    const needs =
      "an overlay mount needs an upper dir with a work dir, or (read-only) two lower dirs or more";
    for (const m of [
      { lowerDirs: [join(base, "l1")], target: join(base, "m") },
      { lowerDirs: [join(base, "l1"), join(base, "l2")], upperDir: join(base, "u"), target: join(base, "m") },
    ]) {
      await expect(mountOverlay(m)).rejects.toMatchObject({ code: "INTERNAL", message: needs });
    }
    await expect(
      mountOverlay({ lowerDirs: [join(base, "missing"), join(base, "l1")], target: join(base, "m") }),
    ).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      message: expect.stringContaining(`mounting a read-only root at ${join(base, "m")}: `),
    });
  });

  it("a chain too long for the options' page is mounted through short links, dropped after the mount", async () => {
    const base = await tempDir();
    // 120 lower dirs of 70-character paths: 8400 characters of lowerdir=
    const lowerDirs: string[] = [];
    for (let i = 0; i < 120; i++) {
      const d = join(base, "snapshots", `${String(i).padStart(3, "0")}${"x".repeat(64)}`, "fs");
      await mkdir(d, { recursive: true });
      await writeFile(join(d, `f${i}`), String(i));
      await writeFile(join(d, "top"), String(i));
      lowerDirs.unshift(d);
    }
    await mkdir(join(base, "ro"));
    await mountOverlay({ lowerDirs, target: join(base, "ro"), base: join(base, "snapshots") });
    try {
      expect((await readdir(join(base, "ro"))).length).toBe(121);
      expect(await readFile(join(base, "ro/top"), "utf8")).toBe("119");
    } finally {
      await unmount(join(base, "ro"));
    }
    for (const d of ["u", "w", "rw"]) await mkdir(join(base, d));
    const rw = { upperDir: join(base, "u"), workDir: join(base, "w"), target: join(base, "rw") };
    await mountOverlay({ lowerDirs, ...rw, base: join(base, "snapshots"), volatile: true });
    try {
      await writeFile(join(base, "rw/f0"), "changed");
      expect(await readFile(join(base, "rw/f119"), "utf8")).toBe("119");
    } finally {
      await unmount(join(base, "rw"));
    }
    expect(await readFile(join(base, "u/f0"), "utf8")).toBe("changed");
    expect((await readdir(base)).sort()).toEqual(["ro", "rw", "snapshots", "u", "w"]);
  });

  it("paths overlayfs cannot take, too many layers, or a mount refused: one sentence", async () => {
    const base = await tempDir();
    await expect(
      mountOverlay({ lowerDirs: ["/a,b"], upperDir: "/u", workDir: "/w", target: "/m" }),
    ).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      message: 'cannot use "/a,b" in an overlay mount (it has , : or \\)',
    });
    const many = Array.from({ length: 501 }, (_, i) => `/layers/${"x".repeat(10)}${i}`);
    await expect(
      mountOverlay({ lowerDirs: many, upperDir: "/u", workDir: "/w", target: "/m" }),
    ).rejects.toMatchObject({ message: "too many layers for one overlay mount (501; overlayfs takes 500)" });
    await expect(
      mountOverlay({
        lowerDirs: [join(base, "missing")],
        upperDir: join(base, "u"),
        workDir: join(base, "w"),
        target: join(base, "m"),
      }),
    ).rejects.toMatchObject({
      code: "RUNTIME_FAILED",
      message: expect.stringContaining(`mounting the container root at ${join(base, "m")}: `),
    });
  });
});

describe("unmountAll", () => {
  it("undoes several mounts with one umount; where that fails (a target not mounted), each one again", async () => {
    const base = await tempDir();
    const targets = ["m1", "m2", "m3"].map((m) => join(base, m));
    const mountAll = async () => {
      for (const [i, t] of targets.entries()) {
        for (const d of [join(base, `l${i}a`), join(base, `l${i}b`), t]) await mkdir(d, { recursive: true });
        await mountOverlay({ lowerDirs: [join(base, `l${i}a`), join(base, `l${i}b`)], target: t });
      }
    };
    await mountAll();
    expect(await mountsUnder(base)).toEqual(targets);
    await unmountAll(targets);
    expect(await mountsUnder(base)).toEqual([]);
    await mountAll();
    await unmountAll([join(base, "l0a"), ...targets]);
    expect(await mountsUnder(base)).toEqual([]);
    await unmountAll([]);
  });
});

describe("overlaySupported", () => {
  it("false without root; as root, a trial mount remembered per kernel until forgotten", async () => {
    const root = await tempDir();
    // the machine's memo (`machineProbe`) dropped: this home's trial is tried
    await forgetOverlaySupport(root);
    expect(await overlaySupported(root, false)).toBe(false);
    expect(await overlaySupported(root, true)).toBe(true);
    const memo = JSON.parse(await readFile(join(root, "overlay-probe.json"), "utf8"));
    expect(memo).toEqual({ kernel: release(), overlay: true });
    expect(await readdir(join(root, "tmp"))).toEqual([]);
    await forgetOverlaySupport(root);
    expect(await readdir(root)).toEqual(["tmp"]);
    // A memo for another kernel is not trusted; this one is, without a trial (no tmp/ to try in).
    const other = await tempDir();
    await writeFile(join(other, "overlay-probe.json"), JSON.stringify({ kernel: release(), overlay: true }));
    expect(await overlaySupported(other, true)).toBe(true);
    expect(await readdir(other)).toEqual(["overlay-probe.json"]);
  });
  it("trusts the machine's memo in a folder others may read but not write (anyone could have made it there)", async () => {
    const was = process.env.TMPDIR;
    process.env.TMPDIR = await tempDir();
    try {
      const folder = join(process.env.TMPDIR, `berth-${userInfo().uid}`);
      expect(await overlaySupported(await tempDir(), true)).toBe(true);
      expect((await readdir(folder)).filter((n) => n.startsWith("overlay-"))).toHaveLength(1);
      // `tmp` a file: a trial would fail; only the memo can say yes
      const untried = async () => {
        const home = await tempDir();
        await writeFile(join(home, "tmp"), "");
        return overlaySupported(home, true);
      };
      await chmod(folder, 0o755);
      expect(await untried()).toBe(true);
      await chmod(folder, 0o775);
      expect(await untried()).toBe(false);
      await chmod(folder, 0o757);
      expect(await untried()).toBe(false);
    } finally {
      if (was === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = was;
    }
  });
  it("a trial in one home serves every other home on its filesystem in this boot, until forgotten", async () => {
    const home = await tempDir();
    expect(await overlaySupported(home, true)).toBe(true);
    // `tmp` a file: a trial mount here would fail; the machine's memo answers without one.
    const other = await tempDir();
    await writeFile(join(other, "tmp"), "");
    expect(await overlaySupported(other, true)).toBe(true);
    expect(JSON.parse(await readFile(join(other, "overlay-probe.json"), "utf8"))).toEqual({
      kernel: release(),
      overlay: true,
    });
    await forgetOverlaySupport(other);
    const third = await tempDir();
    await writeFile(join(third, "tmp"), "");
    expect(await overlaySupported(third, true)).toBe(false);
    // the next trial that works is remembered again
    expect(await overlaySupported(await tempDir(), true)).toBe(true);
  });

  it("a machine memo folder someone else could write to is not trusted", async () => {
    const runtime = await tempDir();
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = runtime;
    try {
      await mkdir(join(runtime, `berth-${process.getuid!()}`), { mode: 0o777 });
      await chmod(join(runtime, `berth-${process.getuid!()}`), 0o777);
      expect(await overlaySupported(await tempDir(), true)).toBe(true);
      expect(await readdir(join(runtime, `berth-${process.getuid!()}`))).toEqual([]);
      const other = await tempDir();
      await writeFile(join(other, "tmp"), "");
      expect(await overlaySupported(other, true)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});

describe("overlay xattrs", () => {
  it("overlayXattrReader answers the opaque markers of a tree from one getfattr", async () => {
    const root = await tempDir();
    // getfattr prints some names raw (é) and escapes others (a newline as \012): both are found.
    for (const name of ["opaque dir", "é", "new\nline"]) {
      await mkdir(join(root, name));
      await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(root, name)]);
    }
    await mkdir(join(root, "plain"));
    const read = (await overlayXattrReader(root))!;
    for (const name of ["opaque dir", "é", "new\nline"]) {
      expect(await read(join(root, name))).toEqual({ "trusted.overlay.opaque": Buffer.from("y") });
    }
    expect(await read(join(root, "plain"))).toBeUndefined();
  });

  it("stripOverlayOrigins removes origin, impure and nlink, keeps the opaque marker, names with escapes too", async () => {
    const root = await tempDir();
    const odd = join(root, "é\ndir");
    await mkdir(odd);
    await writeFile(join(root, "f"), "");
    await run("setfattr", ["-n", "trusted.overlay.origin", "-v", "0x00fb", join(root, "f")]);
    await run("setfattr", ["-n", "trusted.overlay.impure", "-v", "y", odd]);
    await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", odd]);
    await stripOverlayOrigins(root);
    expect(await xattrs(join(root, "f"))).toBe("");
    expect(await xattrs(odd)).toContain('trusted.overlay.opaque="y"');
    expect(await xattrs(odd)).not.toContain("impure");
  });
});

it("currentBootId is the kernel's boot id", async () => {
  expect(await currentBootId()).toBe((await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim());
});
