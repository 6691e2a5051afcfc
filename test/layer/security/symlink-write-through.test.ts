import { lstatSync, mkdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses writing through a symlink to a host directory, from this or an earlier layer (symlink then write through it)", async () => {
  const s = sandbox();
  // Same layer: the symlink, then a file through it.
  const same = await tarStreamOf([
    { name: "link", type: "symlink", linkname: s.outside },
    { name: "link/sentinel", content: "pwned" },
  ]);
  const err = await refusal(applyLayer(streamOf(same), s.root));
  expect(err.code).toBe("LAYER_UNSAFE");
  expect(err.message).toBe(
    `layer entry "link/sentinel" goes through symlink "link" (-> ${JSON.stringify(s.outside)}), whose target does not exist in the root`,
  );
  s.assertUntouched();
  // Earlier layer made the symlink (kept as a symlink, not followed); a later one writes through it.
  expect(readlinkSync(join(s.root, "link"))).toBe(s.outside);
  const later = await tarStreamOf([{ name: "link/new-file", content: "pwned" }]);
  const err2 = await refusal(applyLayer(streamOf(later), s.root));
  expect(err2.code).toBe("LAYER_UNSAFE");
  expect(err2.message).toContain('layer entry "link/new-file" goes through symlink "link"');
  s.assertUntouched();
  // Replacing the symlink itself is fine and does not touch its target.
  const replace = await tarStreamOf([{ name: "link", content: "now a file" }]);
  await applyLayer(streamOf(replace), s.root);
  expect(lstatSync(join(s.root, "link")).isFile()).toBe(true);
  s.assertUntouched();
  // An absolute symlink whose target exists inside the root resolves there (/var/run -> /run).
  mkdirSync(join(s.root, "run"));
  const inRoot = await tarStreamOf([
    { name: "var/run", type: "symlink", linkname: "/run" },
    { name: "var/run/app.pid", content: "1" },
  ]);
  await applyLayer(streamOf(inRoot), s.root);
  expect(readFileSync(join(s.root, "run/app.pid"), "utf8")).toBe("1");
  s.assertUntouched();
});
