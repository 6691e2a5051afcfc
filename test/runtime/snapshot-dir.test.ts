import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { chainIds } from "../../src/oci/digest.ts";
import { chainPresent, snapshotDir } from "../../src/runtime/snapshot-dir.ts";
import { Snapshots } from "../../src/runtime/snapshots.ts";
import { tempDir } from "../helpers/temp.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

it("a snapshot's dir is the one Snapshots uses; a chain is there when its top snapshot's fs dir is, in either mode", async () => {
  const home = await tempDir();
  const snapshots = await Snapshots.open(home, { mode: "full" });
  const top = chainIds([A, B])[1]!;
  expect(snapshotDir(home, "full", top)).toBe(snapshots.dir(top));
  expect(snapshotDir(home, "overlay", top)).toBe(join(home, "snapshots", "overlay", top.slice(7)));
  expect(chainPresent(home, [])).toBe(true);
  expect(chainPresent(home, [A, B])).toBe(false);
  // the bottom one alone, or a top one that is not a folder: absent
  await mkdir(join(snapshotDir(home, "overlay", A), "fs"), { recursive: true });
  await mkdir(snapshotDir(home, "full", top), { recursive: true });
  await writeFile(join(snapshotDir(home, "full", top), "fs"), "");
  expect(chainPresent(home, [A, B])).toBe(false);
  expect(chainPresent(home, [A])).toBe(true);
  await mkdir(join(snapshotDir(home, "overlay", top), "fs"), { recursive: true });
  expect(chainPresent(home, [A, B])).toBe(true);
});
