/**
 * Attack: the build image's /etc/os-release is a symlink to a root-only host file (a real Debian image links it
 * to ../usr/lib/os-release): berth read it on the host, as root, and handed its ID to every buildpack as
 * CNB_TARGET_DISTRO_NAME. It must resolve inside the image's root.
 */
import { beforeAll, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("os-release", { osReleaseLink: (secret) => secret });
});

it("a build image whose /etc/os-release links to a host file fails the build naming the image and the file", async () => {
  const r = await a.build("sandbox");
  expectRefused(
    r,
    /the build image [^:]+:\S+: \/etc\/os-release is a symlink to "[^"]*\/secret\/shadow", which does not exist in the image/,
  );
  await a.assertSecretNowhere(r);
});
