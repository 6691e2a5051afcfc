/** Attack: a build layer's env file (or its env.build directory) is a symlink to a root-only host file, which berth would read as root and hand to the next buildpack. */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("env-file", {
    build: (secret) => `L="$CNB_LAYERS_DIR/tools"
mkdir -p "$L/env"
printf '[types]\\nbuild = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
if [ "$ATTACK" = dir ]; then ln -s "${secret.replace(/\/shadow$/, "")}" "$L/env.build"; else ln -s "${secret}" "$L/env/LEAK"; fi`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("an env/ file linked to a host file fails the build naming the buildpack and the file; the next buildpack never sees it", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /tools\/env\/LEAK is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });

  it("an env.build/ directory linked to a host folder fails the build the same way", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=dir"]);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /tools\/env\.build is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });
});
