/** Attack: bin/detect replaces its plan.toml with a symlink to a root-only host file, which berth would read as root. */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("plan-toml", {
    detect: (secret) => `rm -f "$2"\nln -s "${secret}" "$2"`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("a plan.toml linked to a host file fails detection naming the buildpack and the file", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/plan\.toml is a symlink to "[^"]*\/secret\/shadow", outside its plan directory/,
    );
    await a.assertSecretNowhere(r);
  });
});
