import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses writing through a relative symlink that climbs out of the root (relative symlink climbing out)", async () => {
  const s = sandbox();
  const tar = await tarStreamOf([
    { name: "a/b", type: "directory" },
    { name: "a/b/up", type: "symlink", linkname: "../../../outside" },
    { name: "a/b/up/sentinel", content: "pwned" },
  ]);
  const err = await refusal(applyLayer(streamOf(tar), s.root));
  expect(err.code).toBe("LAYER_UNSAFE");
  expect(err.message).toBe(
    'layer entry "a/b/up/sentinel" goes through symlink "a/b/up" (-> "../../../outside"), which points out of the root',
  );
  s.assertUntouched();
  // A hardlink through the same symlink is refused too.
  const link = await tarStreamOf([{ name: "grab", type: "link", linkname: "a/b/up/sentinel" }]);
  const err2 = await refusal(applyLayer(streamOf(link), s.root));
  expect(err2.code).toBe("LAYER_UNSAFE");
  expect(err2.message).toContain('layer entry "grab" goes through symlink "a/b/up"');
  s.assertUntouched();
});
