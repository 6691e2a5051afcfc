/**
 * `COPY --chown=NAME` in a stage whose /etc/passwd and /etc/group are symlinks (issue 20): the names are looked
 * up in the file the link leads to inside the stage, as BuildKit does (its file op opens the passwd path
 * resolved in the stage's root, containerd's fs.RootPath). A link to another name in the tree gives the same
 * owners as BuildKit; a link whose target is missing, or leads out of the tree (to a file the host has), fails
 * the build on both sides, and berth never reads the host's file.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeContext } from "../helpers/local.ts";
import { diffImages } from "./helpers/diff.ts";
import { flatten } from "./helpers/flatten.ts";
import { type Engine, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;

beforeAll(async () => {
  tmp = await tempDir("berth-df-chown-links-");
  engine = await startEngine(join(tmp, "engine"), { frontend: false });
}, 600_000);
afterAll(async () => {
  await engine?.engine.stop();
});

/** Build `dockerfile` ({{BASE}} replaced) with both; the engine's error or undefined, and berth's result. */
async function buildBoth(name: string, dockerfile: string) {
  const dir = join(tmp, name);
  const ctx = await writeContext(join(dir, "ctx"), {
    "a.txt": "a\n",
    "berth.Dockerfile": dockerfile.replaceAll("{{BASE}}", engine.base),
    "docker.Dockerfile": dockerfile.replaceAll("{{BASE}}", engine.buildkitBase),
  });
  const ours = await berth(
    ["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), "-t", `oci:${dir}/berth:img`],
    { home: join(tmp, "home") },
  );
  const tag = `berth-test/${name}:latest`;
  const theirs = await engine.engine
    .docker(["build", "--network=none", "-f", join(ctx, "docker.Dockerfile"), "-t", tag, ctx])
    .then(
      () => undefined,
      (err: Error) => err.message,
    );
  return { dir, tag, ours, theirs };
}

const LINKED = `FROM {{BASE}}
RUN mv /etc/passwd /etc/passwd.real && echo "svc:x:4321:4322::/:/bin/sh" >> /etc/passwd.real && ln -s passwd.real /etc/passwd \\
 && mv /etc/group /etc/group.real && echo "grp:x:777:" >> /etc/group.real && ln -s /etc/group.real /etc/group
COPY --chown=svc:grp a.txt /owned
COPY --chown=svc a.txt /owned-primary
COPY --chown=app a.txt /owned-app
`;

describe("COPY --chown with /etc/passwd and /etc/group as symlinks", () => {
  it("a link to another name in the stage: the owners BuildKit gives", async () => {
    const { dir, tag, ours, theirs } = await buildBoth("linked", LINKED);
    expect(theirs).toBeUndefined();
    expect(ours.stderr).not.toMatch(/INTERNAL|stage index keeps no content/);
    expect(ours.code).toBe(0);
    await engine.engine.docker(["save", "-o", join(dir, "buildkit.tar"), tag]);
    const berthFlat = await flatten({ layout: `${dir}/berth`, tag: "img" });
    const buildkitFlat = await flatten({ archive: join(dir, "buildkit.tar"), scratch: join(dir, "bk") });
    // files and config agree; the engine's built-in frontend (Dockerfile 1.2) leaves --chown out of history
    expect(diffImages(berthFlat, buildkitFlat).filter((l) => !l.startsWith("history "))).toEqual([]);
    expect(berthFlat.files.get("owned")?.owner).toBe("4321:777");
    expect(berthFlat.files.get("owned-primary")?.owner).toBe("4321:4322");
    expect(berthFlat.files.get("owned-app")?.owner).toBe("1000:1000");
  });

  it("a link to a missing file, or out of the stage to a file the host has: both fail; berth names the link", async () => {
    // The host file the escaping link names: read it, and the owner would be 4242.
    const host = join(tmp, "host-passwd");
    await writeFile(host, "app:x:4242:4242::/:/bin/sh\n");
    for (const [name, target] of [
      ["missing", "passwd.gone"],
      ["escape", `../../../../../..${host}`],
      ["absolute", host],
    ] as const) {
      const { ours, theirs } = await buildBoth(
        `broken-${name}`,
        `FROM {{BASE}}\nRUN rm /etc/passwd && ln -s ${target} /etc/passwd\nCOPY --chown=app a.txt /owned\n`,
      );
      expect({ name, theirs }).toEqual({ name, theirs: expect.stringMatching(/no such file or directory/) });
      expect({ name, failed: ours.code !== 0 }).toEqual({ name, failed: true });
      expect(ours.stderr).toMatch(
        /\/etc\/passwd is a symlink to .*, which is not a file in the stage \(links are resolved inside the stage\)/,
      );
      expect(ours.stderr).not.toMatch(/INTERNAL/);
    }
  });
});
