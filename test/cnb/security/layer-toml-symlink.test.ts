/** Attack: `<layer>.toml` is a symlink to a root-only host file, or the layer directory itself is a symlink to a host folder (which export would tar). */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("layer-toml", {
    build: (secret) => `mkdir -p "$CNB_LAYERS_DIR/tools"
if [ "$ATTACK" = dir ]; then
  printf '[types]\\nlaunch = true\\ncache = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
  rmdir "$CNB_LAYERS_DIR/tools"
  ln -s "${secret.replace(/\/shadow$/, "")}" "$CNB_LAYERS_DIR/tools"
else
  ln -s "${secret}" "$CNB_LAYERS_DIR/tools.toml"
fi`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("<layer>.toml linked to a host file fails the build naming the buildpack and the file", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/tools\.toml is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });

  it("a launch layer directory linked to a host folder fails the build instead of being exported", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=dir"]);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/tools is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });
});
