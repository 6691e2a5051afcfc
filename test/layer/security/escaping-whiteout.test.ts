import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses whiteouts that reach outside the root (escaping whiteout)", async () => {
  const s = sandbox();
  const layer1 = await tarStreamOf([{ name: "host", type: "symlink", linkname: s.outside }]);
  await applyLayer(streamOf(layer1), s.root);
  const cases: [string, string][] = [
    ["../outside/.wh.sentinel", 'layer entry "../outside/.wh.sentinel" climbs out of the root'],
    ["a/../../outside/.wh.sentinel", 'layer entry "a/../../outside/.wh.sentinel" climbs out of the root'],
    ["../.wh.outside", 'layer entry "../.wh.outside" climbs out of the root'],
    [".wh..", 'layer entry ".wh.." whites out ".", which is not a name inside its directory'],
    ["a/.wh...", 'layer entry "a/.wh..." whites out "..", which is not a name inside its directory'],
    ["host/.wh.sentinel", `layer entry "host/.wh.sentinel" goes through symlink "host"`],
    ["host/.wh..wh..opq", `layer entry "host/.wh..wh..opq" goes through symlink "host"`],
  ];
  for (const [name, message] of cases) {
    const tar = await tarStreamOf([{ name, content: "" }]);
    const err = await refusal(applyLayer(streamOf(tar), s.root));
    expect(err.code).toBe("LAYER_UNSAFE");
    expect(err.message).toContain(message);
    s.assertUntouched();
  }
  // Whiting out the symlink removes the link, not its target.
  const tar = await tarStreamOf([{ name: ".wh.host", content: "" }]);
  const stats = await applyLayer(streamOf(tar), s.root);
  expect(stats.whiteouts).toBe(1);
  s.assertUntouched();
});
