import { describe, expect, it } from "vitest";
import { parseAttestations } from "../../src/dockerfile/provenance-spec.ts";
import { errorOf } from "../helpers/oci.ts";

describe("parseAttestations (buildx's --provenance, --attest, --sbom)", () => {
  it("reads BuildKit's attributes, its defaults (mode=max, v0.2), and the last of a type wins", () => {
    expect(parseAttestations({ provenance: "true", attest: [] })).toEqual({
      mode: "max",
      version: "v0.2",
      builderId: "",
      reproducible: false,
      inlineOnly: false,
      filename: "provenance.json",
    });
    expect(parseAttestations({ provenance: "false", attest: [] })).toBeUndefined();
    expect(parseAttestations({ attest: [] })).toBeUndefined();
    expect(
      parseAttestations({
        attest: ["type=provenance,mode=min,version=v1,builder-id=https://ci.example/run/1,reproducible=true"],
      }),
    ).toEqual({
      mode: "min",
      version: "v1",
      builderId: "https://ci.example/run/1",
      reproducible: true,
      inlineOnly: false,
      filename: "provenance.json",
    });
    expect(
      parseAttestations({ attest: ["type=provenance,inline-only=true,filename=slsa.json"] }),
    ).toMatchObject({ inlineOnly: true, filename: "slsa.json" });
    expect(
      parseAttestations({ attest: ["type=provenance,mode=max", "type=provenance,disabled=true"] }),
    ).toBeUndefined();
    expect(parseAttestations({ sbom: "false", provenance: "mode=min", attest: [] })?.mode).toBe("min");
  });

  it("refuses an SBOM, a bad mode or version, an unknown attribute or type, each in one sentence with a hint", async () => {
    const sbom = await errorOf(() => parseAttestations({ sbom: "true", attest: [] }));
    expect(sbom.message).toMatch(
      /^--sbom true: berth makes no SBOM attestation: BuildKit's runs a scanner image/,
    );
    expect(sbom.hint).toMatch(/leave out --sbom/);
    expect((await errorOf(() => parseAttestations({ attest: ["type=sbom"] }))).message).toMatch(
      /^--attest type=sbom:/,
    );
    expect((await errorOf(() => parseAttestations({ provenance: "mode=all", attest: [] }))).message).toBe(
      '--provenance mode=all: mode="all" is not a provenance mode',
    );
    expect((await errorOf(() => parseAttestations({ attest: ["type=provenance,version=v2"] }))).hint).toMatch(
      /version=v0\.2 or version=v1/,
    );
    expect(
      (await errorOf(() => parseAttestations({ attest: ["type=provenance,colour=red"] }))).message,
    ).toMatch(/colour is not an attribute of provenance attestations/);
    expect((await errorOf(() => parseAttestations({ attest: ["type=vex"] }))).message).toMatch(
      /type "vex" is not an attestation berth makes/,
    );
  });
});
