/**
 * Attack: a buildpack replaces the next buildpack's layers directory (or the platform's `sbom`/`config`
 * directories, or `report.toml`, which berth writes after it) with a symlink to a host folder or file: berth,
 * as root, would chown that folder to the CNB user, write into it, or overwrite the file.
 */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("bp-dir", {
    // bin/detect already sees the layers dir (its plan.toml is in it): it can plant links before restore.
    detect: (secret) => `if [ "$ATTACK" = detect ]; then
  rm -rf "$(dirname "$2")/../../test_next"
  ln -s "${secret.replace(/\/shadow$/, "")}" "$(dirname "$2")/../../test_next"
fi
exit 0`,
    build: (secret) => {
      const dir = secret.replace(/\/shadow$/, "");
      return `mkdir -p "$CNB_LAYERS_DIR/tools"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
echo '{}' > "$CNB_LAYERS_DIR/launch.sbom.cdx.json"
case "$ATTACK" in
  sbom) rm -rf "$CNB_LAYERS_DIR/../sbom"; ln -s "${dir}" "$CNB_LAYERS_DIR/../sbom" ;;
  config) rm -rf "$CNB_LAYERS_DIR/../config"; ln -s "${dir}" "$CNB_LAYERS_DIR/../config" ;;
  report) ln -s "${secret}" "$CNB_LAYERS_DIR/../report.toml" ;;
  *) rm -rf "$CNB_LAYERS_DIR/../test_next"; ln -s "${dir}" "$CNB_LAYERS_DIR/../test_next" ;;
esac`;
    },
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("the next buildpack's layers directory linked to a host folder fails the build; the folder is not chowned", async () => {
    const r = await a.build(isolation);
    expectRefused(r, /test_next is a symlink, not a directory/);
    await a.assertSecretNowhere(r);
  });

  it("<layers>/sbom linked to a host folder fails the build; nothing is written there", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=sbom"]);
    expectRefused(r, /sbom is a symlink, not a directory/);
    await a.assertSecretNowhere(r);
  });

  it("<layers>/config linked to a host folder fails the build; nothing is written there", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=config"]);
    expectRefused(r, /config is a symlink, not a directory/);
    await a.assertSecretNowhere(r);
  });

  it("a report.toml linked to a host file fails the build; the file is not overwritten", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=report"]);
    expectRefused(r, /report\.toml is a symlink; berth does not write through it/);
    await a.assertSecretNowhere(r);
  });

  it("a layers directory linked to a host folder by bin/detect fails the build at restore; the folder is not chowned", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=detect"]);
    expectRefused(r, /the layers directory: \S*test_next is a symlink, not a directory/);
    await a.assertSecretNowhere(r);
  });
});
