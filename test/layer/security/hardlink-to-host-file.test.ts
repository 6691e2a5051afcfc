import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("refuses hardlinks to files outside the root (hardlink to a host file)", async () => {
  const s = sandbox();
  const cases: [string, string][] = [
    [
      "../outside/sentinel",
      `layer entry "grab" links to "../outside/sentinel", which climbs out of the root`,
    ],
    [
      s.sentinel,
      `layer entry "grab" links to ${JSON.stringify(s.sentinel)}, which does not exist in the root`,
    ],
  ];
  for (const [linkname, message] of cases) {
    const tar = await tarStreamOf([{ name: "grab", type: "link", linkname }]);
    const err = await refusal(applyLayer(streamOf(tar), s.root));
    expect(err.code).toBe("LAYER_UNSAFE");
    expect(err.message).toBe(message);
    s.assertUntouched(); // nlink of the sentinel is still 1
  }
});
