import { createReadStream, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { applyLayer } from "../../src/layer/apply.ts";
import { flattenLayers } from "../../src/layer/flatten.ts";
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
