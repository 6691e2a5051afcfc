/**
 * Errors a newcomer meets (issue 16, point 6), through the real CLI: raw system errors become a sentence naming
 * the path or host with a hint; `oci:` of a missing folder says so; a tag the registry lacks hints `berth tags`;
 * a load onto a full disk fails with a sentence and leaves nothing behind.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explainErrno } from "../../src/cli/errno.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";
import { freePort } from "../registry/helpers/ports.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let dir: string;
let home: string;

beforeAll(async () => {
  dir = await tempDir("berth-errors-");
  home = join(dir, "home");
});

/** Every file below `root`, relative (Node's compile cache left out: it is Node's, not berth's). */
async function files(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (p === ".cache") continue;
    if (e.isDirectory()) out.push(...(await files(root, p)));
    else out.push(p);
  }
  return out;
}

describe("errors name the path or host, with a hint", () => {
  it("ENOENT: a missing layer source", async () => {
    const r = await berth(["append", "scratch", join(dir, "missing"), "-t", `oci:${dir}/out:x`], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `berth: writing oci:${dir}/out:x: building a layer from ${dir}/missing: reading layer source ${dir}/missing: no such file or folder: ${dir}/missing\nhint: check the path (a relative one is taken from the current folder)\n`,
    );
  });

  it("oci: of a folder that does not exist says no such folder", async () => {
    const r = await berth(["inspect", `oci:${dir}/nonexistent`], { home });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `berth: no such folder: ${dir}/nonexistent (an OCI image layout was expected)\nhint: check the path after oci:\n`,
    );
  });

  it("ECONNREFUSED: nothing listens at the registry's port", async () => {
    const port = await freePort();
    const r = await berth(["pull", `127.0.0.1:${port}/team/app:1`], { home });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(
      new RegExp(
        `^berth: .*: the connection to 127\\.0\\.0\\.1:${port} was refused: nothing listens there\\nhint: check that the registry runs at that host and port`,
      ),
    );
    expect(r.stderr).not.toMatch(/ECONNREFUSED/);
  });

  it("ENOTFOUND: a registry name that does not resolve", async () => {
    const r = await berth(["pull", "registry.nonexistent.invalid/team/app:1"], { home });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(
      /: cannot resolve the host name registry\.nonexistent\.invalid\nhint: check the registry's name/,
    );
    expect(r.stderr).not.toMatch(/ENOTFOUND|EAI_AGAIN|getaddrinfo/);
  }, 60_000);

  it("the system's words for the others (EPERM, ESPIPE, ENOSPC)", () => {
    const perm = Object.assign(new Error("EPERM: operation not permitted, chown '/x'"), {
      code: "EPERM",
      syscall: "chown",
      path: "/x",
    });
    expect(explainErrno(perm, "/h")?.message).toBe("not permitted to change the owner of /x");
    const spipe = Object.assign(new Error("ESPIPE: invalid seek, read"), { code: "ESPIPE", syscall: "read" });
    expect(explainErrno(spipe, "/h")?.message).toBe(
      "the input is a pipe or terminal, which berth cannot read at a position",
    );
  });
});

describe("a registry 404 for a tag", () => {
  let reg: RegistryHarness;
  beforeAll(async () => {
    reg = await startRegistry();
    await umociImage(join(dir, "img"), "v1", [[{ path: "a", content: "a" }]]);
    await run("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${join(dir, "img")}:v1`,
      `docker://${reg.host}/team/app:1`,
    ]);
  });
  afterAll(() => reg?.stop());

  it("hints berth tags", async () => {
    const r = await berth(["pull", `${reg.host}/team/app:2`], { home });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`hint: list the repository's tags: berth tags ${reg.host}/team/app\n`);
  });
});

describe("ENOSPC: load onto a full disk", () => {
  let small: string;
  beforeAll(async () => {
    small = join(dir, "small");
    await mkdir(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", small]);
  });
  afterAll(() => {
    execFileSync("umount", [small]);
  });

  it("fails with a sentence and leaves nothing behind", async () => {
    const big = join(dir, "big");
    await mkdir(big);
    execFileSync("sh", ["-c", `head -c 3000000 /dev/urandom > ${big}/noise`]);
    const built = await berth(
      ["append", "scratch", big, "-t", `oci:${dir}/big-layout:x`, "--compression", "none"],
      {
        home,
      },
    );
    expect(built.code, built.stderr).toBe(0);
    const archive = join(dir, "big.tar");
    expect((await berth(["save", `oci:${dir}/big-layout:x`, "-o", archive], { home })).code).toBe(0);
    const fullHome = join(small, "home");
    await mkdir(fullHome);
    await chmod(fullHome, 0o700);
    const r = await berth(["load", "-i", archive], { home: fullHome });
    expect(r.code).toBe(1);
    // the progress lines of blobs that fit come first (README "Progress"); the failure is the sentence after them
    expect(r.stderr.replace(/^Blob [0-9a-f]{12} done .*\n/gm, "")).toBe(
      `berth: loading ${archive} into the local store: no space left on the disk\nhint: free space (berth store gc removes blobs no image uses), or point BERTH_HOME (${fullHome}) at a larger disk\n`,
    );
    expect((await files(fullHome)).filter((f) => !/^store\/(oci-layout|index\.json)$/.test(f))).toEqual([]);
  });
});
