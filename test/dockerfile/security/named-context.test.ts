/**
 * Attack: a named build context (`--build-context NAME=DIR`) holds symlinks to a root-only host file and its
 * folder, and a .dockerignore linked to the file; COPY --from=NAME and RUN --mount=from=NAME name them. The
 * directory gets the build context's confinement: a link is followed inside it only, and copied as a link.
 */
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { expectRefused, plantSecret, type Secret } from "../../cnb/security/helpers.ts";
import { berth } from "../../helpers/cli.ts";
import { localBase } from "../helpers/local.ts";

let s: Secret;
let ctx: string;
let named: string;
let base: string;
beforeAll(async () => {
  s = await plantSecret("named-context");
  base = await localBase(join(s.dir, "base"));
  ctx = join(s.dir, "ctx");
  named = join(s.dir, "named");
  await mkdir(ctx);
  await mkdir(named);
  await writeFile(join(named, "hello.txt"), "hello");
  await symlink(s.secretFile, join(named, "link"));
  await symlink(s.secretDir, join(named, "linkdir"));
  await symlink("../secret/shadow", join(named, "relative"));
}, 120_000);

const build = (dockerfile: string, tag: string, extra: string[] = []) =>
  writeFile(join(ctx, "Dockerfile"), dockerfile).then(() =>
    berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${s.dir}/out:${tag}`,
        "--build-context",
        `named=${named}`,
        ...extra,
      ],
      { home: s.home },
    ),
  );

it("COPY --from=NAME of a link, through a linked folder, or of the whole folder never copies the host file", async () => {
  for (const [i, src] of ["link", "linkdir/shadow", "relative"].entries()) {
    const r = await build(`FROM scratch\nCOPY --from=named ${src} /copied\n`, `a${i}`);
    expect(r.code, r.stderr).not.toBe(0);
    await s.assertSecretNowhere(r, [join(s.dir, "out")]);
  }
  // the folder itself: its links are copied as links
  const r = await build("FROM scratch\nCOPY --from=named / /all/\n", "whole");
  expect(r.code, r.stderr).toBe(0);
  await s.assertSecretNowhere(r, [join(s.dir, "out")]);
});

it("RUN --mount=from=NAME with a linked source never binds the host's folder", async () => {
  const r = await build(
    `FROM ${base}\nRUN --mount=from=named,source=linkdir,target=/m cat /m/shadow > /got || true\n`,
    "mount",
    ["--network", "none"],
  );
  await s.assertSecretNowhere(r, [join(s.dir, "out")]);
  // the link resolved inside the context (no /secret there): refused, or nothing read
  if (r.code === 0) expect(r.stderr).not.toContain("BERTHSECRET");
});

it("a .dockerignore of the named context linked to a host file fails the build naming the file", async () => {
  await symlink(s.secretFile, join(named, ".dockerignore"));
  const r = await build("FROM scratch\nCOPY --from=named hello.txt /\n", "ignore");
  expectRefused(
    r,
    /the build context "named": \S+\/named\/\.dockerignore is a symlink to "[^"]*\/secret\/shadow", outside the build context "named"/,
  );
  await s.assertSecretNowhere(r, [join(s.dir, "out")]);
  expect(await readFile(join(named, "hello.txt"), "utf8")).toBe("hello");
});
