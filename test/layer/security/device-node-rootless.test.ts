import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { sandbox } from "./sandbox.ts";

it("skips device nodes in rootless mode with a note naming the entry (device node in rootless mode)", async () => {
  const s = sandbox();
  const tar = await tarStreamOf([
    { name: "dev", type: "directory" },
    { name: "dev/sda", type: "character-device", devmajor: 8, devminor: 0, mode: 0o666 },
    { name: "dev/pipe", type: "fifo", mode: 0o600 },
  ]);
  const stats = await applyLayer(streamOf(tar), s.root, { rootless: true });
  expect(existsSync(join(s.root, "dev/sda"))).toBe(false);
  expect(stats.notes).toEqual([{ entry: "dev/sda", reason: "char device 8:0 not created (rootless)" }]);
  expect(stats.devices).toBe(1); // the fifo, which needs no privilege
  expect(lstatSync(join(s.root, "dev/pipe")).isFIFO()).toBe(true);
  s.assertUntouched();
  // As root (this test runs as root), the same layer makes the device node, inside the root.
  const asRoot = join(s.base, "root");
  const stats2 = await applyLayer(streamOf(tar), asRoot, { rootless: false });
  expect(stats2.notes).toEqual([]);
  const st = lstatSync(join(asRoot, "dev/sda"));
  expect(st.isCharacterDevice()).toBe(true);
  expect(st.rdev).toBe(8 * 256);
  s.assertUntouched();
});
