/**
 * Attack: the build context's Dockerfile (or its .dockerignore) is a symlink to a root-only host file; berth
 * read it as root and printed its first line in the syntax error.
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { expectRefused, plantSecret, type Secret } from "../../cnb/security/helpers.ts";
import { berth } from "../../helpers/cli.ts";

let s: Secret;
let ctx: string;
beforeAll(async () => {
  s = await plantSecret("dockerfile");
  ctx = join(s.dir, "ctx");
  await mkdir(ctx);
  await writeFile(join(ctx, "hello.txt"), "hello");
});

it("a Dockerfile in the context linked to a host file fails the build naming the file, printing none of it", async () => {
  await symlink(s.secretFile, join(ctx, "Dockerfile"));
  const out = join(s.dir, "out");
  const r = await berth(["build", ctx, "-t", `oci:${out}:x`, "--dockerfile"], { home: s.home });
  expectRefused(
    r,
    /the build context: \S+\/ctx\/Dockerfile is a symlink to "[^"]*\/secret\/shadow", outside the build context/,
  );
  await s.assertSecretNowhere(r, [out]);
});

it("a .dockerignore linked to a host file fails the build naming the file", async () => {
  const dir = join(s.dir, "ctx2");
  await mkdir(dir);
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
  await writeFile(join(dir, "hello.txt"), "hello");
  await symlink(s.secretFile, join(dir, ".dockerignore"));
  const out = join(s.dir, "out2");
  const r = await berth(["build", dir, "-t", `oci:${out}:x`, "--dockerfile"], { home: s.home });
  expectRefused(
    r,
    /the build context: \S+\/ctx2\/\.dockerignore is a symlink to "[^"]*\/secret\/shadow", outside the build context/,
  );
  await s.assertSecretNowhere(r, [out]);
});

it("COPY of a symlink, or through a symlinked folder, never copies the host file it points at (already confined: a regression test)", async () => {
  const dir = join(s.dir, "ctx3");
  await mkdir(dir);
  await symlink(s.secretFile, join(dir, "link"));
  await symlink(s.secretDir, join(dir, "linkdir"));
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY link /copied-link\n");
  const out = join(s.dir, "out3");
  const r = await berth(["build", dir, "-t", `oci:${out}:x`, "--dockerfile"], { home: s.home });
  // A source symlink is followed inside the context only (its host target does not exist there).
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("does not exist in the build context");
  await s.assertSecretNowhere(r, [out]);
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY linkdir/shadow /copied\n");
  const r2 = await berth(["build", dir, "-t", `oci:${out}:y`, "--dockerfile"], { home: s.home });
  expect(r2.code).not.toBe(0);
  await s.assertSecretNowhere(r2, [out]);
});
