/**
 * Attack: the app's project.toml is a symlink to a root-only host file (a cloned repository can carry one);
 * berth read it as root and printed its first line in the TOML error.
 */
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("project-toml", {
    app: (app, secret) => symlink(secret, join(app, "project.toml")),
  });
});

it("a project.toml linked to a host file fails the build naming the file", async () => {
  const r = await a.build("sandbox");
  expectRefused(
    r,
    /the app: \S+\/app\/project\.toml is a symlink to "[^"]*\/secret\/shadow", outside the app directory/,
  );
  await a.assertSecretNowhere(r);
});
