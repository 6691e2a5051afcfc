/** Finding the OCI runtime: runc, else crun, or the one forced by name or path. */
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { findRuntime } from "../../src/runtime/runtime.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-runtime-");
  // Only crun on this PATH; a runc that is not executable on another.
  await mkdir(join(dir, "crun-only"));
  await symlink("/usr/bin/crun", join(dir, "crun-only/crun"));
  await mkdir(join(dir, "noexec"));
  await writeFile(join(dir, "noexec/runc"), "#!/bin/sh\n");
  await chmod(join(dir, "noexec/runc"), 0o644);
});

it("finds runc first, else crun, searching the PATH in order", async () => {
  expect(await findRuntime({ path: "/usr/sbin:/usr/bin" })).toEqual({ name: "runc", path: "/usr/sbin/runc" });
  expect(await findRuntime({ path: `${join(dir, "noexec")}::${join(dir, "crun-only")}` })).toEqual({
    name: "crun",
    path: join(dir, "crun-only/crun"),
  });
});

it("a runtime forced by name or path; a path's name tells which runtime it is", async () => {
  expect(await findRuntime({ want: " crun ", path: "/usr/sbin:/usr/bin" })).toEqual({
    name: "crun",
    path: "/usr/bin/crun",
  });
  expect(await findRuntime({ want: "/usr/sbin/runc" })).toEqual({ name: "runc", path: "/usr/sbin/runc" });
  expect(await findRuntime({ want: join(dir, "crun-only/crun") })).toEqual({
    name: "crun",
    path: join(dir, "crun-only/crun"),
  });
});

it("none installed, not on PATH, not executable, or unknown: one sentence with a hint", async () => {
  await expect(findRuntime({ path: join(dir, "noexec") })).rejects.toMatchObject({
    code: "RUNTIME_NOT_FOUND",
    message: "no OCI runtime found: berth runs containers with runc or crun",
    hint: expect.stringContaining("apt-get install runc"),
  });
  await expect(findRuntime({ want: "runc", path: join(dir, "crun-only") })).rejects.toMatchObject({
    code: "RUNTIME_NOT_FOUND",
    message: "the OCI runtime runc is not installed (not on PATH)",
    hint: expect.stringContaining("apt-get install runc"),
  });
  const noexec = join(dir, "noexec/runc");
  await expect(findRuntime({ want: noexec })).rejects.toMatchObject({
    code: "RUNTIME_NOT_FOUND",
    message: `the OCI runtime ${noexec} is not an executable file`,
  });
  await expect(findRuntime({ want: "docker" })).rejects.toMatchObject({
    code: "USAGE",
    message: 'unknown OCI runtime "docker": use runc or crun',
  });
});
