/**
 * runtime/binfmt.ts against Debian's real qemu-user-static definitions (/usr/share/binfmts) and a stand-in
 * binfmt_misc folder (the host's own entry is shared by every test, so it is neither removed nor rewritten
 * here): the line berth registers is Debian's magic, mask and interpreter with the F flag; an entry without F,
 * a disabled one, and a user who may not register each get one sentence.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureEmulation, isForeign } from "../../src/runtime/binfmt.ts";
import { tempDir } from "../helpers/temp.ts";

const ARM64 = { os: "linux", architecture: "arm64" };
let tmp: string;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-binfmt-");
});

/** A binfmt_misc stand-in: `register` a plain file, and the given entries. */
async function misc(entries: Record<string, string> = {}): Promise<string> {
  const dir = join(tmp, `misc-${n++}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "register"), "");
  for (const [name, text] of Object.entries(entries)) await writeFile(join(dir, name), text);
  return dir;
}

/** Debian's definition, as update-binfmts reads it. */
async function debian(): Promise<Record<string, string>> {
  const text = await readFile("/usr/share/binfmts/qemu-aarch64", "utf8");
  return Object.fromEntries(
    text
      .split("\n")
      .map((l) => /^(\S+)\s+(.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
}

describe("binfmt_misc registration", () => {
  it("registers Debian's qemu-aarch64 with the F flag, once, and says so", async () => {
    const dir = await misc();
    const lines: string[] = [];
    const o = { binfmtMisc: dir, mayRegister: true, log: (l: string) => lines.push(l) };
    await ensureEmulation(ARM64, o);
    const d = await debian();
    expect(await readFile(join(dir, "register"), "utf8")).toBe(
      `:qemu-aarch64:M:${d.offset}:${d.magic}:${d.mask}:${d.interpreter}:FP`,
    );
    expect(lines).toEqual([
      `Registering qemu-aarch64 with binfmt_misc (host-wide, flags FP, from /usr/share/binfmts/qemu-aarch64) to run linux/arm64 binaries under ${d.interpreter}`,
    ]);
    await ensureEmulation(ARM64, o);
    expect(lines).toHaveLength(1);
  });

  it("uses an entry registered with F as it is", async () => {
    const dir = await misc({ "qemu-aarch64": "enabled\ninterpreter /x\nflags: PF\n" });
    await ensureEmulation(ARM64, { binfmtMisc: dir, mayRegister: true });
    expect(await readFile(join(dir, "register"), "utf8")).toBe("");
  });

  it("refuses an entry without the F flag: containers could not open its interpreter", async () => {
    const dir = await misc({ "qemu-aarch64": "enabled\ninterpreter /x\nflags: P\n" });
    await expect(ensureEmulation(ARM64, { binfmtMisc: dir })).rejects.toThrow(
      `the binfmt_misc entry ${dir}/qemu-aarch64 lacks the F (fix binary) flag, so containers cannot open its interpreter`,
    );
  });

  it("refuses a disabled entry", async () => {
    const dir = await misc({ "qemu-aarch64": "disabled\ninterpreter /x\nflags: F\n" });
    await expect(ensureEmulation(ARM64, { binfmtMisc: dir })).rejects.toThrow(
      `the binfmt_misc entry ${dir}/qemu-aarch64 is disabled`,
    );
  });

  it("tells a user who may not register what to ask for, writing nothing", async () => {
    const dir = await misc();
    const err = await ensureEmulation(ARM64, { binfmtMisc: dir, mayRegister: false }).catch((e) => e);
    expect(err.code).toBe("EMULATION_UNAVAILABLE");
    expect(err.message).toBe(
      "cannot run linux/arm64 binaries on this amd64 machine: the binfmt_misc entry qemu-aarch64 is not registered, and registering it needs root",
    );
    expect(err.hint).toContain("update-binfmts --enable qemu-aarch64");
    expect(await readFile(join(dir, "register"), "utf8")).toBe("");
  });

  it("tells a user who may not register on a machine without binfmt_misc mounted to mount it first", async () => {
    const dir = join(tmp, `unmounted-${n++}`);
    await mkdir(dir, { recursive: true });
    const err = await ensureEmulation(ARM64, { binfmtMisc: dir, mayRegister: false }).catch((e) => e);
    expect(err.message).toBe(
      `cannot run linux/arm64 binaries on this amd64 machine: the binfmt_misc entry qemu-aarch64 is not registered (binfmt_misc is not mounted at ${dir}), and registering it needs root`,
    );
    expect(err.hint).toContain(
      `mount -t binfmt_misc binfmt_misc ${dir}, then update-binfmts --enable qemu-aarch64`,
    );
  });

  it("needs nothing for the machine's own architectures", () => {
    expect(isForeign({ os: "linux", architecture: "amd64" })).toBe(false);
    expect(isForeign({ os: "linux", architecture: "386" })).toBe(false);
    expect(isForeign(ARM64)).toBe(true);
  });
});
