import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses an entry whose .. climbs out of the root (parent traversal)", async () => {
  const s = sandbox();
  for (const name of ["../outside/sentinel", "a/../../outside/sentinel", "./../../escape"]) {
    const tar = await tarStreamOf([
      { name: "ok", content: "fine" },
      { name, content: "pwned" },
    ]);
    const err = await refusal(applyLayer(streamOf(tar), s.root));
    expect(err.code).toBe("LAYER_UNSAFE");
    expect(err.message).toBe(`layer entry ${JSON.stringify(name)} climbs out of the root`);
    s.assertUntouched();
  }
  // A .. that stays inside the root is fine.
  const tar = await tarStreamOf([{ name: "a/b/../c", content: "inside" }]);
  await applyLayer(streamOf(tar), s.root);
  s.assertUntouched();
});
