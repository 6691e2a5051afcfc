/**
 * buildx's attestation flags (`--provenance`, `--sbom`, `--attest type=…`) read into the provenance a build
 * attaches (BuildKit's attributes, docs/attestations/slsa-provenance.md). Apart from provenance.ts, which makes
 * the attestation and is loaded only by a build that attaches one.
 */
import { BerthError } from "../errors.ts";

/** `--provenance` / `--attest type=provenance`'s attributes (BuildKit's, docs/attestations/slsa-provenance.md). */
export interface ProvenanceSpec {
  mode: "min" | "max";
  version: "v0.2" | "v1";
  /** `builder-id`: the predicate's builder.id (empty unless given). */
  builderId: string;
  reproducible: boolean;
  /** `inline-only`: in images only, not beside the files of `-o type=local|tar`. */
  inlineOnly: boolean;
  /** `filename`: the statement's file name in `-o type=local|tar` (default `provenance.json`). */
  filename: string;
}

/**
 * buildx's `--provenance VALUE` and `--sbom VALUE` (true/false, or attributes: `type=NAME,VALUE`) and `--attest
 * type=…,…` values, the last of a type winning as buildx's: the provenance to attach, or none. An SBOM is refused
 * unless disabled: BuildKit's runs a scanner image.
 */
export function parseAttestations(o: {
  provenance?: string | undefined;
  sbom?: string | undefined;
  attest: readonly string[];
}): ProvenanceSpec | undefined {
  const all = o.attest.map((a) => ({ flag: `--attest ${a}`, text: a }));
  for (const type of ["sbom", "provenance"] as const) {
    const v = o[type];
    if (v === undefined) continue;
    const text = /^(1|t|true|0|f|false)$/i.test(v)
      ? `type=${type},disabled=${/^(0|f|false)$/i.test(v)}`
      : `type=${type},${v}`;
    all.push({ flag: `--${type} ${v}`, text });
  }
  let spec: ProvenanceSpec | undefined;
  for (const { flag, text } of all) {
    const attrs = new Map<string, string>();
    for (const field of text.split(",")) {
      const eq = field.indexOf("=");
      if (eq <= 0)
        throw usage(flag, `${JSON.stringify(field)} is not KEY=VALUE`, "give type=provenance[,mode=min|max]");
      attrs.set(field.slice(0, eq).trim().toLowerCase(), field.slice(eq + 1));
    }
    const type = attrs.get("type");
    attrs.delete("type");
    if (type === "sbom") {
      if (attrs.get("disabled") !== undefined && parseBool(attrs.get("disabled")!, "disabled", flag))
        continue;
      throw usage(
        flag,
        "berth makes no SBOM attestation: BuildKit's runs a scanner image (docker/buildkit-syft-scanner) that berth does not have",
        "leave out --sbom (or give --sbom=false), and scan the image with a tool of your own",
      );
    }
    if (type !== "provenance")
      throw usage(
        flag,
        `type ${JSON.stringify(type ?? "")} is not an attestation berth makes`,
        "give type=provenance",
      );
    spec = attestSpec(attrs, flag);
  }
  return spec;
}

function usage(flag: string, why: string, hint: string): BerthError {
  return new BerthError("USAGE", `${flag}: ${why}`, { hint });
}

function parseBool(v: string, key: string, flag: string): boolean {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw usage(flag, `${key}=${JSON.stringify(v)} is not true or false`, `give ${key}=true or ${key}=false`);
}

/** One provenance attestation's attributes; none when `disabled=true`. */
function attestSpec(attrs: Map<string, string>, flag: string): ProvenanceSpec | undefined {
  const spec: ProvenanceSpec = {
    mode: "max",
    version: "v0.2",
    builderId: "",
    reproducible: false,
    inlineOnly: false,
    filename: "provenance.json",
  };
  let disabled = false;
  for (const [k, v] of attrs) {
    switch (k) {
      case "disabled":
        disabled = parseBool(v, k, flag);
        break;
      case "mode":
        if (v !== "min" && v !== "max" && v !== "full")
          throw usage(
            flag,
            `mode=${JSON.stringify(v)} is not a provenance mode`,
            "give mode=min or mode=max",
          );
        spec.mode = v === "min" ? "min" : "max";
        break;
      case "version":
        if (v !== "v0.2" && v !== "v1")
          throw usage(
            flag,
            `version=${JSON.stringify(v)} is not a SLSA provenance version BuildKit writes`,
            "give version=v0.2 or version=v1",
          );
        spec.version = v;
        break;
      case "builder-id":
        spec.builderId = v;
        break;
      case "reproducible":
        spec.reproducible = parseBool(v, k, flag);
        break;
      case "inline-only":
        spec.inlineOnly = parseBool(v, k, flag);
        break;
      case "filename":
        spec.filename = v;
        break;
      default:
        throw usage(
          flag,
          `${k} is not an attribute of provenance attestations`,
          "give mode=, version=, builder-id=, reproducible=, inline-only= or filename=",
        );
    }
  }
  return disabled ? undefined : spec;
}
