import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { applyLayer } from "../../../src/layer/apply.ts";
import { streamOf, tarStreamOf } from "../helpers.ts";
import { refusal, sandbox } from "./sandbox.ts";

it("keeps absolute paths inside the root, and refuses one that climbs out (absolute path)", async () => {
  const s = sandbox();
  // "/<host path>/sentinel" means "<root>/<host path>/sentinel": neutralised, not written on the host.
  const tar = await tarStreamOf([{ name: s.sentinel, content: "pwned" }]);
  await applyLayer(streamOf(tar), s.root);
  s.assertUntouched();
  expect(readFileSync(join(s.root, s.sentinel), "utf8")).toBe("pwned");
  // "/../outside/sentinel" climbs above the root: refused.
  const name = "/../outside/sentinel";
  const bad = await tarStreamOf([{ name, content: "pwned" }]);
  const err = await refusal(applyLayer(streamOf(bad), s.root));
  expect(err.code).toBe("LAYER_UNSAFE");
  expect(err.message).toContain(`layer entry ${JSON.stringify(name)} climbs out of the root`);
  s.assertUntouched();
});
