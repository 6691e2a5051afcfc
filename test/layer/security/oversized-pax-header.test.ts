import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses a PAX header over the size cap, naming the entry (oversized PAX header)", async () => {
  const s = sandbox();
  const tar = await tarStreamOf([
    { name: "victim", content: "x", pax: { comment: "A".repeat(2 * 1024 * 1024) } },
  ]);
  const err = await refusal(applyLayer(streamOf(tar), s.root));
  expect(err.code).toBe("LAYER_UNSAFE");
  expect(err.message).toMatch(
    /^layer entry "victim" has a PAX header of \d+ bytes, over the 1048576-byte limit$/,
  );
  s.assertUntouched();
  // The cap is an option; under a larger cap the same layer applies.
  const stats = await applyLayer(streamOf(tar), s.root, { maxMetaSize: 4 * 1024 * 1024 });
  expect(stats.files).toBe(1);
});
