/** Attack: `launch.toml` is a symlink to a root-only host file, which berth would read as root. */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("launch-toml", {
    build: (secret) => `ln -s "${secret}" "$CNB_LAYERS_DIR/launch.toml"`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("launch.toml linked to a host file fails the build naming the buildpack and the file", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/launch\.toml is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });
});
