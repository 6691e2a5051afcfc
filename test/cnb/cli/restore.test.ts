/**
 * What a buildpack finds in its layers directory on a rebuild, through the real CLI (issue 13, §2.3 and §2.6):
 * `store.toml` (also after --clear-cache), `<layer>.toml` and `<layer>.sbom.<ext>` by the spec's reuse table
 * as the lifecycle restores them, nothing but `store.toml` after --clear-cache, and a cache layer whose bytes
 * do not match its diffID skipped with the lifecycle's warning.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

let dir: string;
let home: string;
let builder: string;
let app: string;

// Prints every entry of its layers directory (files with their contents, directories with their `data`),
// then counts builds in store.toml and writes three layers with SBOMs: cache-only, launch-only, launch+cache.
const BUILD = `L="$CNB_LAYERS_DIR"
echo "SEEN-BEGIN"
for f in "$L"/*; do
  [ -e "$f" ] || continue
  n="\${f##*/}"
  if [ -d "$f" ]; then echo "dir $n: $(cat "$f/data" 2>/dev/null)"; else echo "file $n:"; cat "$f"; echo; fi
done
echo "SEEN-END"
n=1
if [ -f "$L/store.toml" ]; then n=$(( $(sed -n 's/^ *count = "\\(.*\\)"/\\1/p' "$L/store.toml") + 1 )); fi
printf '[metadata]\\ncount = "%s"\\n' "$n" > "$L/store.toml"
for x in cached launchonly both; do
  mkdir -p "$L/$x"
  echo "$x-$n" > "$L/$x/data"
  printf '{"layer":"%s","build":%s}' "$x" "$n" > "$L/$x.sbom.cdx.json"
done
printf '[types]\\ncache = true\\n[metadata]\\nv = "%s"\\n' "$n" > "$L/cached.toml"
printf '[types]\\nlaunch = true\\n[metadata]\\nv = "%s"\\nn = 2\\n' "$n" > "$L/launchonly.toml"
printf '[types]\\nlaunch = true\\ncache = true\\n[metadata]\\nv = "%s"\\n' "$n" > "$L/both.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["true"]\\ndefault = true\\n' > "$L/launch.toml"
`;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-restore-");
  home = join(dir, "home");
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bp = await writeBuildpack(join(dir, "bps"), {
    id: "test/rs",
    version: "0.0.1",
    api: "0.10",
    extra: 'sbom-formats = ["application/vnd.cyclonedx+json"]\n',
    build: BUILD,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/rs"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  builder = `oci:${layout}:builder`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, "a.txt"), "a");
});

/** What the buildpack printed between its markers. */
function seen(stderr: string): string {
  const m = /SEEN-BEGIN\n([\s\S]*?)SEEN-END/.exec(stderr);
  if (!m) throw new Error(`no SEEN block in:\n${stderr}`);
  return m[1]!;
}

const build = (image: string, ...extra: string[]) =>
  berth(["build", app, "-t", image, "--builder", builder, "--cache-dir", join(dir, "cache"), ...extra], {
    home,
  });

describe("restore, as the lifecycle restores", () => {
  it("brings back store.toml, the layers' metadata and their SBOMs by the reuse table, and cache contents", async () => {
    const first = await build("rs:1");
    expect(first.code, first.stderr).toBe(0);
    expect(seen(first.stderr)).toBe("");
    const cacheMeta = JSON.parse(
      await readFile(join(dir, "cache", "committed", "io.buildpacks.lifecycle.cache.metadata"), "utf8"),
    );
    expect(cacheMeta.sbom.sha).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.stderr).toContain("Adding cache layer 'buildpacksio/lifecycle:cache.sbom'");

    const second = await build("rs:1");
    expect(second.code, second.stderr).toBe(0);
    expect(seen(second.stderr)).toBe(
      [
        "dir both: both-1",
        "file both.sbom.cdx.json:",
        '{"layer":"both","build":1}',
        "file both.toml:",
        '[metadata]\n  v = "1"\n',
        "dir cached: cached-1",
        "file cached.sbom.cdx.json:",
        '{"layer":"cached","build":1}',
        "file cached.toml:",
        '[metadata]\n  v = "1"\n',
        "file launchonly.sbom.cdx.json:",
        '{"layer":"launchonly","build":1}',
        "file launchonly.toml:",
        // Numbers come back as the lifecycle writes them (JSON-decoded float64s): 2 is 2.0.
        '[metadata]\n  n = 2.0\n  v = "1"\n',
        "file store.toml:",
        '[metadata]\n  count = "1"\n',
        "",
      ].join("\n"),
    );
    expect(second.stderr).toContain('Restoring metadata for "test/rs:launchonly" from app image');
    expect(second.stderr).toContain('Restoring metadata for "test/rs:cached" from cache');
    expect(second.stderr).toContain("Restoring data for SBOM from previous image");
    expect(second.stderr).toContain("Restoring data for SBOM from cache");
  });

  it("--clear-cache restores store.toml from the previous image and nothing else", async () => {
    const r = await build("rs:1", "--clear-cache");
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stderr)).toBe(["file store.toml:", '[metadata]\n  count = "2"\n', ""].join("\n"));
    expect(r.stderr).toContain("Skipping buildpack layer analysis");
    expect(r.stderr).not.toContain("Restoring metadata");
    expect(r.stderr).not.toContain("Restoring data");
  });

  it("a cache layer whose bytes do not match its diffID is skipped with a warning, never restored", async () => {
    const metaFile = join(dir, "cache", "committed", "io.buildpacks.lifecycle.cache.metadata");
    const meta = JSON.parse(await readFile(metaFile, "utf8"));
    const sha: string = meta.buildpacks[0].layers.cached.sha;
    const tar = join(dir, "cache", "committed", `${sha.slice(7)}.tar`);
    const bytes = await readFile(tar);
    const at = bytes.indexOf("cached-3");
    expect(at).toBeGreaterThan(0);
    bytes.write("HACKED-3", at);
    await writeFile(tar, bytes);
    // Another image (a fresh layers directory) on the same cache: the layer must come from the tar.
    const r = await build("rs-other:1");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `Skipping restore for layer test/rs:cached: expected layer contents to have SHA '${sha}'; found 'sha256:[0-9a-f]{64}'`,
      ),
    );
    const s = seen(r.stderr);
    expect(s).not.toContain("HACKED");
    expect(s).not.toContain("dir cached");
    expect(s).toContain('file cached.toml:\n[metadata]\n  v = "3"\n');
    // Nothing extracted is left behind.
    const hashDirs = await readdir(join(home, "cache", "cnb"));
    for (const h of hashDirs) {
      const layers = join(home, "cache", "cnb", h, "layers");
      const names = await readdir(layers).catch(() => [] as string[]);
      expect(names.filter((n) => n.startsWith(".restore-"))).toEqual([]);
    }
  });

  it("a launch+cache layer whose image record and cache record differ is removed, as the lifecycle does", async () => {
    // The shared cache now holds rs-other's layers; rs:1's image names other diffIDs for test/rs:both.
    const r = await build("rs:1");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Removing "test/rs:both", wrong sha');
    const s = seen(r.stderr);
    expect(s).not.toContain("file both.toml");
    expect(s).not.toContain("dir both");
    expect(s).toContain('file launchonly.toml:\n[metadata]\n  n = 2.0\n  v = "3"\n');
  });

  it("restores cache tars with relative names (berth before 2026-12) and with absolute names (the lifecycle's)", async () => {
    for (const names of ["relative", "absolute"]) {
      const staging = join(dir, `fmt-${names}`, "staging");
      await mkdir(join(staging, "layers", "test_rs", "cached"), { recursive: true });
      await writeFile(join(staging, "layers", "test_rs", "cached", "data"), `from-${names}`);
      const committed = join(dir, `fmt-${names}`, "cache", "committed");
      await mkdir(committed, { recursive: true });
      const tarFile = join(dir, `fmt-${names}`, "layer.tar");
      const how = names === "absolute" ? ["-P", "--transform", "s,^,/,"] : [];
      execFileSync("tar", [
        "-cf",
        tarFile,
        ...how,
        "--owner=1000",
        "--group=1000",
        "--numeric-owner",
        "-C",
        staging,
        "layers",
      ]);
      const tar = await readFile(tarFile);
      const sha = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
      await writeFile(join(committed, `${sha.slice(7)}.tar`), tar);
      await writeFile(
        join(committed, "io.buildpacks.lifecycle.cache.metadata"),
        JSON.stringify({
          buildpacks: [
            { key: "test/rs", version: "0.0.1", layers: { cached: { sha, cache: true, data: null } } },
          ],
        }),
      );
      const r = await berth(
        [
          "build",
          app,
          "-t",
          `rs-${names}:1`,
          "--builder",
          builder,
          "--cache-dir",
          join(dir, `fmt-${names}`, "cache"),
        ],
        { home },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(seen(r.stderr), names).toContain(`dir cached: from-${names}\n`);
    }
  });

  it("attack: a cache layer whose tar leads out through a symbolic link moves nothing of the host", async () => {
    // A crafted cache: layers/test_rs is a link to a host folder holding "cached"; the diffID is right.
    const victim = join(dir, "victim");
    await mkdir(join(victim, "cached"), { recursive: true });
    await writeFile(join(victim, "cached", "data"), "host secret");
    const staging = join(dir, "evil-staging");
    await mkdir(join(staging, "layers"), { recursive: true });
    await symlink(victim, join(staging, "layers", "test_rs"));
    const evil = join(dir, "evil-cache", "committed");
    await mkdir(evil, { recursive: true });
    const tarFile = join(dir, "evil.tar");
    execFileSync("tar", ["-cf", tarFile, "-C", staging, "layers"]);
    const tar = await readFile(tarFile);
    const sha = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
    await writeFile(join(evil, `${sha.slice(7)}.tar`), tar);
    await writeFile(
      join(evil, "io.buildpacks.lifecycle.cache.metadata"),
      JSON.stringify({
        buildpacks: [
          { key: "test/rs", version: "0.0.1", layers: { cached: { sha, cache: true, data: { v: "evil" } } } },
        ],
      }),
    );
    const r = await berth(
      ["build", app, "-t", "rs-evil:1", "--builder", builder, "--cache-dir", join(dir, "evil-cache")],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(victim, "cached", "data"), "utf8")).toBe("host secret");
    expect(seen(r.stderr)).not.toContain("host secret");
    expect(r.stderr).toContain(
      "Skipping restore for layer test/rs:cached: it holds no directory /layers/test_rs/cached",
    );
  });

  it("an image cache whose blob was altered: the layer is skipped with a warning, the build goes on", async () => {
    const cacheImage = `oci:${join(dir, "cache-layout")}:cache`;
    const first = await berth(
      ["build", app, "-t", "rs-img:1", "--builder", builder, "--cache-image", cacheImage],
      {
        home,
      },
    );
    expect(first.code, first.stderr).toBe(0);
    const blobs = join(dir, "cache-layout", "blobs", "sha256");
    let altered = 0;
    for (const f of await readdir(blobs)) {
      const b = await readFile(join(blobs, f));
      if (b[0] !== 0x1f || b[1] !== 0x8b) continue; // the gzip layers, not the manifest or config
      b[b.length - 20]! ^= 0xff;
      await writeFile(join(blobs, f), b);
      altered++;
    }
    expect(altered).toBeGreaterThan(0);
    const r = await berth(
      ["build", app, "-t", "rs-img2:1", "--builder", builder, "--cache-image", cacheImage],
      {
        home,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Skipping restore for layer test/rs:cached: ");
    expect(seen(r.stderr)).not.toContain("dir cached");
  });
});
