/** Attack: an SBOM file (`launch.sbom.cdx.json`, `<layer>.sbom.cdx.json`) is a symlink to a root-only host file, which berth would copy into the image's SBOM layer. */
import { beforeAll, describe, it } from "vitest";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("sbom", {
    build: (secret) => `mkdir -p "$CNB_LAYERS_DIR/tools"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/tools.toml"
if [ "$ATTACK" = layer ]; then ln -s "${secret}" "$CNB_LAYERS_DIR/tools.sbom.cdx.json"; else ln -s "${secret}" "$CNB_LAYERS_DIR/launch.sbom.cdx.json"; fi`,
  });
});

describe.each(["sandbox", "host"] as const)("--isolation %s", (isolation) => {
  it("launch.sbom.cdx.json linked to a host file fails the build; nothing of it reaches the image", async () => {
    const r = await a.build(isolation);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/launch\.sbom\.cdx\.json is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });

  it("a layer's SBOM linked to a host file fails the build the same way", async () => {
    const r = await a.build(isolation, ["-e", "ATTACK=layer"]);
    expectRefused(
      r,
      'buildpack "test/evil@6.6.6"',
      /\/tools\.sbom\.cdx\.json is a symlink to "[^"]*\/secret(\/shadow)?", outside its layers directory/,
    );
    await a.assertSecretNowhere(r);
  });
});
