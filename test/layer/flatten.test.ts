import { createReadStream, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { applyLayer } from "../../src/layer/apply.ts";
import { flattenLayers, flattenTrees } from "../../src/layer/flatten.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { layerOf, threeLayers } from "./fixtures.ts";
import { sh, sha256, snapshot } from "./helpers.ts";

it("flattening layers matches applying them all", async () => {
  const base = tempDirSync();
  const files: string[] = [];
  for (const [i, entries] of threeLayers.entries()) {
    const f = join(base, `l${i}`);
    await layerOf(entries, f);
    files.push(f);
  }
  const applied = join(base, "applied");
  for (const f of files) await applyLayer(createReadStream(f), applied);
  const flat = join(base, "flat.tar");
  const r = await flattenLayers(
    files.map((f) => () => createReadStream(f)),
    flat,
  );
  expect(r.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
  expect(r.diffId).toBe(sha256(readFileSync(flat)));
  const listing = sh("tar", ["-tf", flat]).toString().trim().split("\n");
  expect(listing.some((l) => l.includes(".wh."))).toBe(false);
  // Parents come before children.
  for (const [i, name] of listing.entries()) {
    const parent = name.replace(/\/$/, "").split("/").slice(0, -1).join("/");
    if (parent) expect(listing.slice(0, i)).toContain(`${parent}/`);
  }
  // GNU tar extracts it to the same tree as applying the layers one by one.
  const extracted = join(base, "extracted");
  mkdirSync(extracted);
  sh("tar", ["-xpf", flat, "-C", extracted]);
  expect(snapshot(extracted)).toEqual(snapshot(applied));
  // and so does berth's own apply
  const again = join(base, "again");
  await applyLayer(createReadStream(flat), again);
  expect(snapshot(again)).toEqual(snapshot(applied));
});

it("flattenTrees puts each filesystem under its folder, hard links kept to their own tree", async () => {
  const base = tempDirSync();
  const layer = join(base, "l.tar");
  await layerOf(
    [
      { path: "f", type: "file", content: "x" },
      { path: "h", type: "hardlink", linkname: "f" },
    ],
    layer,
  );
  const flat = join(base, "flat.tar");
  const open = () => createReadStream(layer);
  await flattenTrees(
    [
      { layers: [open], prefix: "linux_amd64" },
      { layers: [open], prefix: "linux_arm64" },
    ],
    flat,
  );
  const listing = sh("tar", ["-tvf", flat]).toString().trim().split("\n");
  expect(listing.map((l) => l.replace(/^(\S+)\s+\S+\s+\d+\s+\S+\s+\S+\s+/, "$1 "))).toEqual([
    "drwxr-xr-x linux_amd64/",
    "-rw-r--r-- linux_amd64/f",
    "hrw-r--r-- linux_amd64/h link to linux_amd64/f",
    "drwxr-xr-x linux_arm64/",
    "-rw-r--r-- linux_arm64/f",
    "hrw-r--r-- linux_arm64/h link to linux_arm64/f",
  ]);
  // and one tree without a prefix is flattenLayers' tar
  const one = join(base, "one.tar");
  await flattenTrees([{ layers: [open] }], one);
  expect(sha256(readFileSync(one))).toBe((await flattenLayers([open], join(base, "two.tar"))).diffId);
});

it("flattenTrees with walkOrder: BuildKit's walk order across layers, the first path of a hard-link group the file", async () => {
  const base = tempDirSync();
  const lower = join(base, "lower.tar");
  const upper = join(base, "upper.tar");
  await layerOf(
    [
      { path: "z", type: "dir" },
      { path: "z/f", type: "file", content: "linked", mode: 0o4751 },
      { path: "a.b", type: "file", content: "1" },
      { path: "gone", type: "file", content: "whited out" },
    ],
    lower,
  );
  await layerOf(
    [
      { path: "a", type: "dir" },
      { path: "a/hard", type: "hardlink", linkname: "z/f" },
      { path: "a-c", type: "file", content: "2" },
      { path: ".wh.gone", type: "file", content: "" },
      { path: "0", type: "file", content: "" },
    ],
    upper,
  );
  const flat = join(base, "walk.tar");
  await flattenTrees([{ layers: [() => createReadStream(lower), () => createReadStream(upper)] }], flat, {
    walkOrder: { spool: base },
  });
  const listing = sh("tar", ["-tvf", flat]).toString().trim().split("\n");
  expect(listing.map((l) => l.replace(/^(\S+)\s+\S+\s+\d+\s+\S+\s+\S+\s+/, "$1 "))).toEqual([
    "-rw-r--r-- 0",
    "drwxr-xr-x a/",
    "-rwsr-x--x a/hard",
    "-rw-r--r-- a-c",
    "-rw-r--r-- a.b",
    "drwxr-xr-x z/",
    "hrwsr-x--x z/f link to a/hard",
  ]);
  const out = join(base, "out");
  mkdirSync(out);
  sh("tar", ["-xpf", flat, "-C", out]);
  expect(readFileSync(join(out, "z/f"), "utf8")).toBe("linked");
  expect(readFileSync(join(out, "a.b"), "utf8")).toBe("1");
  // the spool is gone
  expect(
    sh("ls", [base])
      .toString()
      .split("\n")
      .filter((n) => n.startsWith("spool-")),
  ).toEqual([]);
});
