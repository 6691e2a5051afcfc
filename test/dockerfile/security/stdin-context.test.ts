/**
 * Attack: the context comes as a tar on standard input (`berth build - < ctx.tar`), with entries that climb out
 * (`../`), go through a link to a host folder, and links to a root-only host file that COPY then names. The tar
 * is extracted into berth's own temporary folder by berth's confined reader: nothing lands outside it, and a
 * link is copied as a link or refused, never followed to the host.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, expect, it } from "vitest";
import { expectRefused, plantSecret, type Secret } from "../../cnb/security/helpers.ts";
import { berth } from "../../helpers/cli.ts";
import { tarOf } from "../../layer/helpers.ts";

let s: Secret;
beforeAll(async () => {
  s = await plantSecret("stdin-context");
});

const build = (tar: Buffer, tag: string) =>
  berth(["build", "-", "-t", `oci:${s.dir}/out:${tag}`], { home: s.home, input: tar });

const leftovers = async () =>
  (await readdir(join(s.home, "tmp")).catch(() => [])).filter((n) => n.startsWith("context-"));

it("an entry with ../ is refused naming the context, and nothing is written outside", async () => {
  const tar = await tarOf([
    { path: "Dockerfile", content: "FROM scratch\nCOPY . /\n" },
    { path: "../../escaped", content: "pwned" },
  ]);
  const r = await build(gzipSync(tar), "up");
  expectRefused(r, 'the build context -: layer entry "../../escaped" climbs out of the root');
  for (const at of [join(s.home, "tmp", "escaped"), join(s.home, "escaped"), join(s.dir, "escaped")])
    expect(existsSync(at)).toBe(false);
  expect(await leftovers()).toEqual([]);
});

it("an entry through an absolute link to a host folder is refused; the folder stays empty", async () => {
  const target = join(s.dir, "target");
  await mkdir(target);
  const tar = await tarOf([
    { path: "Dockerfile", content: "FROM scratch\nCOPY . /\n" },
    { path: "abs", type: "symlink", linkname: target },
    { path: "abs/inside", content: "pwned" },
  ]);
  const r = await build(tar, "through");
  expectRefused(r, /the build context -: layer entry "abs\/inside" goes through symlink "abs"/);
  expect(await readdir(target)).toEqual([]);
});

it("COPY of absolute and relative links to the host's secret never copies the secret", async () => {
  const tar = await tarOf([
    { path: "Dockerfile", content: "FROM scratch\nCOPY link /copied\n" },
    { path: "link", type: "symlink", linkname: s.secretFile },
    { path: "rel", type: "symlink", linkname: "../../../../../../../../" },
  ]);
  const r = await build(tar, "link");
  // followed inside the context only, as a folder context's
  expect(r.stderr).toMatch(
    /COPY failed: "link" is a symlink whose target "[^"]*shadow" does not exist in the build context/,
  );
  await s.assertSecretNowhere(r, [join(s.dir, "out")]);
  for (const src of ["link/", "rel/secret/shadow", "."]) {
    const t = await tarOf([
      { path: "Dockerfile", content: `FROM scratch\nCOPY ${src} /copied/\n` },
      { path: "link", type: "symlink", linkname: s.secretDir },
      { path: "rel", type: "symlink", linkname: "../../../../../../../../" },
    ]);
    const d = await build(t, "dir");
    // the whole context builds (its links copied as links); a path through a link resolves inside it, and fails
    expect(d.code === 0, d.stderr).toBe(src === ".");
    await s.assertSecretNowhere(d, [join(s.dir, "out")]);
  }
});
