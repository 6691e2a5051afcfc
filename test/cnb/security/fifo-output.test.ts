/**
 * Attack: a buildpack leaves a FIFO where berth reads a file (launch.toml, an env file): berth, opening it
 * for reading, blocked forever. It is now opened O_NONBLOCK and refused as not a regular file.
 */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("fifo", {
    build: () => `if [ "$ATTACK" = env ]; then
  mkdir -p "$CNB_LAYERS_DIR/tools/env"
  printf '[types]\\nbuild = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
  mkfifo "$CNB_LAYERS_DIR/tools/env/HANG"
else
  mkfifo "$CNB_LAYERS_DIR/launch.toml"
fi`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("a FIFO as launch.toml fails the build at once, naming the buildpack and the file", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/launch\.toml is a FIFO, where a regular file was expected/,
    );
    await a.assertSecretNowhere(r);
  }, 60_000);

  it("a FIFO as an env file fails the build the same way", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=env"]);
    expectRefused(r, /\/tools\/env\/HANG is a FIFO, where a regular file was expected/);
    await a.assertSecretNowhere(r);
  }, 60_000);
});
