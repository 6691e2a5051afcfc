/**
 * BuildKit's SLSA provenance attestation (`--provenance`, `--attest type=provenance`; BuildKit v0.26.2's
 * solver/llbsolver/provenance and exporter/containerimage): the in-toto statement of a build, its predicate SLSA
 * v0.2 (`https://slsa.dev/provenance/v0.2`, the default) or v1, and the attestation manifest that holds it: an
 * image manifest of platform unknown/unknown whose one layer is the statement (`application/vnd.in-toto+json`,
 * annotated `in-toto.io/predicate-type`), listed in the image's index after the images with
 * `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest` (the image it describes),
 * as docs/attestations/attestation-storage.md says. What berth cannot give honestly is left out: no LLB
 * definition (`buildConfig`) nor the source locations that point into it (mode=max's layers by step are keyed
 * by berth's chain of steps), no resource usage. README: "berth build".
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { WalkedFile } from "../layer/flatten.ts";
import { assemble } from "../oci/assemble.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { type Digest, digestBytes } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import { formatPlatform, normalizePlatform, type Platform } from "../oci/platform.ts";
import { parseReference } from "../oci/reference.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { goIndented, goTime } from "../util/go-json.ts";
import type { ExportStep } from "./cache-format.ts";
import type { ExportAttestation } from "./export.ts";
import type { BuildInputs } from "./inputs.ts";
import type { ProvenanceSpec } from "./provenance-spec.ts";
import type { FetchedSource, MountedSecret } from "./step.ts";

const PREDICATE_V02 = "https://slsa.dev/provenance/v0.2";
const PREDICATE_V1 = "https://slsa.dev/provenance/v1";
const BUILD_TYPE_V02 = "https://mobyproject.org/buildkit@v1";
const BUILD_TYPE_V1 = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md";
const METADATA_V02 = "https://mobyproject.org/buildkit@v1#metadata";
const IN_TOTO = "application/vnd.in-toto+json";
const STATEMENT = "https://in-toto.io/Statement/v0.1";
/** The platform of attestation manifests in an index (BuildKit's intotoPlatform). */
const ATTESTATION_PLATFORM: Platform = { architecture: "unknown", os: "unknown" };

/** A base or `--from` image the build read: as written, on which platform, and the digest it resolved to. */
export interface Material {
  image: ImageArgument;
  platform: Platform;
  digest: Digest;
}

/** What a build knows of itself for its provenance (BuildKit's Capture, and the job's times). */
export interface ProvenanceFacts {
  materials: readonly Material[];
  /** The git repositories and URLs ADD fetched, with their commit or content digest. */
  fetched: readonly FetchedSource[];
  /** The frontend's arguments: `build-arg:NAME`, `label:KEY`, `target`, `no-cache`… (not redacted). */
  args: Readonly<Record<string, string>>;
  /** The secrets and SSH agents the build's RUN steps mount (their ids, never a value), BuildKit's Capture. */
  mounted: readonly MountedSecret[];
  /** The Dockerfile's name (the predicate's configSource.entryPoint) and, for mode=max, its text. */
  filename: string;
  dockerfile: Buffer | undefined;
  invocationId: string;
  startedOn: Date;
  finishedOn: Date;
  /** The machine the build ran on (environment.platform). */
  builderPlatform: Platform;
  /** mode=max: the image's layers by step (`step<N>:0` → the chain up to step N's layer). */
  layers: Readonly<Record<string, Descriptor[][]>>;
}

/**
 * mode=max's layers by step: for each step of the image's chain (its base stage's first) that left a layer,
 * `step<N>:0` (N its place in the chain) → the image's layers up to and with it; none when the chain and the
 * manifest disagree on how many there are.
 */
export function stepLayers(
  chain: readonly ExportStep[],
  layers: readonly Descriptor[],
): Record<string, Descriptor[][]> {
  const made = chain.flatMap((s, n) => (s.record.layer ? [n] : []));
  const below = layers.length - made.length;
  if (below < 0) return {};
  const out: Record<string, Descriptor[][]> = {};
  made.forEach((n, j) => {
    out[`step${n}:0`] = [
      layers.slice(0, below + j + 1).map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ];
  });
  return out;
}

/**
 * The frontend's arguments as buildx sends them and BuildKit's provenance lists them: `build-arg:NAME`,
 * `label:KEY`, `target`, `no-cache`, `context:NAME` (a named context).
 */
export function frontendArgs(i: BuildInputs): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(i.buildArgs ?? {})) args[`build-arg:${k}`] = v;
  for (const [k, v] of Object.entries(i.labels ?? {})) args[`label:${k}`] = v;
  for (const c of i.contexts ?? [])
    args[`context:${c.name}${c.platform ? `::${c.platform}` : ""}`] = c.text.slice(c.text.indexOf("=") + 1);
  if (i.target) args.target = i.target;
  if (i.noCache) args["no-cache"] = "";
  return args;
}

/** The names an image is written under, as its attestation's subjects: store and registry references. */
export function subjectNames(destinations: readonly ImageArgument[]): ImageArgument[] {
  return destinations.filter((d) => d.transport === "store" || d.transport === "docker");
}

/** BuildKit's job ids: 25 characters of a-z0-9 (identity.NewID). */
export function invocationId(): string {
  const bytes = randomBytes(32);
  let id = "";
  for (const b of bytes) {
    if (id.length === 25) break;
    if (b < 252) id += (b % 36).toString(36);
  }
  return id.padEnd(25, "0");
}

const pathEscape = (s: string) => encodeURIComponent(s).replaceAll("%3A", ":").replaceAll("%40", "@");

/**
 * A package URL of an image reference, as BuildKit's purl.RefToPURL: `pkg:docker/NAMESPACE/NAME@TAG?platform=…`
 * (a digest reference: `?digest=…`), the name familiar (docker.io/library/ dropped), the platform normalised.
 * Images berth read from an OCI layout or archive are `pkg:oci/…` named by the reference they were stored under.
 */
export function imagePurl(image: ImageArgument, platform: Platform | undefined): string {
  const type = image.transport === "store" || image.transport === "docker" ? "docker" : "oci";
  const text = "ref" in image && image.ref ? image.ref : image.transport === "scratch" ? "scratch" : "latest";
  const qualifiers: string[] = [];
  let name: string;
  let version = "";
  if (type === "oci" && !/[/:@]/.test(text)) {
    // an OCI layout's own name for the image (org.opencontainers.image.ref.name): its tag
    name = "path" in image ? (image.path.split("/").filter(Boolean).pop() ?? "image") : "image";
    version = text;
  } else {
    const ref = parseReference(text);
    name =
      ref.registry === "docker.io"
        ? ref.repository.replace(/^library\//, "")
        : `${ref.registry}/${ref.repository}`;
    if (ref.digest) qualifiers.push(`digest=${pathEscape(ref.digest)}`);
    version = ref.tag ?? (ref.digest ? "" : "latest");
  }
  if (platform) qualifiers.push(`platform=${pathEscape(formatPlatform(normalizePlatform(platform)))}`);
  // packageurl-go: the namespace's segments query-escaped (a registry's port: %3A), the name and version and
  // qualifier values path-escaped (a digest's colon kept, a platform's slashes %2F)
  const segments = name.split("/");
  const last = pathEscape(segments.pop()!);
  segments.splice(0, segments.length, ...segments.map(encodeURIComponent));
  const path = [type, ...segments, version ? `${last}@${pathEscape(version)}` : last].join("/");
  return `pkg:${path}${qualifiers.length ? `?${qualifiers.join("&")}` : ""}`;
}

/** A time as Go's encoding/json writes a time.Time (RFC 3339 with the fraction's trailing zeros trimmed). */

/** A record's entries in Go's order of a map's keys (bytes; the keys here are ASCII). */
const sortedEntries = <T>(r: Readonly<Record<string, T>>): [string, T][] =>
  Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const digestSet = (d: Digest) => ({ [d.slice(0, d.indexOf(":"))]: d.slice(d.indexOf(":") + 1) });

/** The SLSA v0.2 predicate of a build (BuildKit's NewPredicate and NewProvenanceCreator). */
function predicateV02(spec: ProvenanceSpec, f: ProvenanceFacts): Record<string, unknown> {
  // BuildKit sorts the images by reference; min drops build args, labels, secrets and SSH ids
  const materials = [...f.materials]
    .sort((a, b) => (a.image.text < b.image.text ? -1 : a.image.text > b.image.text ? 1 : 0))
    .map((m) => ({ uri: imagePurl(m.image, m.platform), digest: digestSet(m.digest) }));
  // then git (a commit: sha1, or sha256 for 64 digits) and http sources, each sorted by URL, as BuildKit's
  const byUrl = (a: FetchedSource, b: FetchedSource) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);
  for (const kind of ["git", "http"] as const) {
    for (const s of f.fetched.filter((x) => x.kind === kind).sort(byUrl)) {
      const digest =
        s.kind === "http" ? digestSet(s.digest) : { [s.commit.length === 64 ? "sha256" : "sha1"]: s.commit };
      materials.push({ uri: s.url, digest });
    }
  }
  const args: Record<string, string> = {};
  let parametersComplete = true;
  // Go writes a map's keys sorted
  for (const [k, v] of sortedEntries(f.args)) {
    if (spec.mode === "min" && (k.startsWith("build-arg:") || k.startsWith("label:"))) {
      parametersComplete = false;
      continue;
    }
    args[k] = v;
  }
  // sorted by id, `optional` when no mount requires it (BuildKit's Capture.AddSecret, AddSSH and Sort)
  const mountedOf = (kind: MountedSecret["kind"]) =>
    spec.mode === "max"
      ? f.mounted
          .filter((m) => m.kind === kind)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .map((m) => ({ id: m.id, ...(m.optional ? { optional: true } : {}) }))
      : [];
  const secrets = mountedOf("secret");
  const ssh = mountedOf("ssh");
  const buildkit: Record<string, unknown> = {};
  if (spec.mode === "max" && f.dockerfile) {
    buildkit.source = {
      infos: [{ filename: f.filename, language: "Dockerfile", data: f.dockerfile.toString("base64") }],
    };
  }
  if (spec.mode === "max" && Object.keys(f.layers).length)
    buildkit.layers = Object.fromEntries(sortedEntries(f.layers));

  return {
    builder: { id: spec.builderId },
    buildType: BUILD_TYPE_V02,
    ...(materials.length ? { materials } : {}),
    invocation: {
      configSource: { entryPoint: f.filename },
      parameters: {
        frontend: "dockerfile.v0",
        ...(Object.keys(args).length ? { args } : {}),
        ...(secrets.length ? { secrets } : {}),
        ...(ssh.length ? { ssh } : {}),
        // the context and the Dockerfile's folder, sent by the client (BuildKit's local sources, sorted)
        locals: [{ name: "context" }, { name: "dockerfile" }],
      },
      environment: { platform: formatPlatform(normalizePlatform(f.builderPlatform)) },
    },
    metadata: {
      buildInvocationID: f.invocationId,
      buildStartedOn: goTime(f.startedOn.getTime()),
      buildFinishedOn: goTime(f.finishedOn.getTime()),
      // local sources make the materials incomplete (and the build not hermetic), as BuildKit says
      completeness: { parameters: parametersComplete, environment: true, materials: false },
      reproducible: spec.reproducible,
      [METADATA_V02]: buildkit,
    },
  };
}

/** The v0.2 predicate in SLSA v1's shape, as BuildKit's ConvertToSLSA1. */
function toV1(p: ReturnType<typeof predicateV02>): Record<string, unknown> {
  const inv = p.invocation as {
    configSource: { entryPoint: string };
    parameters: unknown;
    environment: { platform: string };
  };
  const meta = p.metadata as Record<string, unknown> & {
    completeness: { parameters: boolean; materials: boolean };
  };
  const materials = (p.materials as unknown[] | undefined) ?? [];
  return {
    buildDefinition: {
      buildType: BUILD_TYPE_V1,
      ...(materials.length ? { resolvedDependencies: materials } : {}),
      externalParameters: { configSource: { path: inv.configSource.entryPoint }, request: inv.parameters },
      internalParameters: { builderPlatform: inv.environment.platform },
    },
    runDetails: {
      builder: p.builder,
      metadata: {
        invocationID: meta.buildInvocationID,
        startedOn: meta.buildStartedOn,
        finishedOn: meta.buildFinishedOn,
        buildkit_metadata: meta[METADATA_V02],
        buildkit_completeness: {
          request: meta.completeness.parameters,
          resolvedDependencies: meta.completeness.materials,
        },
        ...(meta.reproducible ? { buildkit_reproducible: true } : {}),
      },
    },
  };
}

/**
 * The in-toto statement of one platform's image: its subjects are the image's names as purls (none for an
 * image written without a name), each with the image manifest's digest.
 */
export function provenanceStatement(
  spec: ProvenanceSpec,
  facts: ProvenanceFacts,
  subject: { names: readonly ImageArgument[]; digest: Digest; platform: Platform },
): { predicateType: string; bytes: Buffer } {
  const subjects = subject.names.map((n) => ({
    name: imagePurl(n, subject.platform),
    digest: digestSet(subject.digest),
  }));
  const statement = statementOf(spec, facts, subjects);
  return { predicateType: statement.predicateType, bytes: Buffer.from(JSON.stringify(statement)) };
}

/**
 * The attestation `-o type=local|tar` writes beside a platform's files (none with `inline-only`): the statement
 * whose subjects are those files (their paths and sha256, in walk order), indented as BuildKit's CreateFS
 * marshals it, in the file `filename`; its mtime SOURCE_DATE_EPOCH, else now (in seconds).
 */
export function exportAttestations(
  spec: ProvenanceSpec,
  facts: ProvenanceFacts,
  epoch: number | undefined,
): ExportAttestation[] {
  if (spec.inlineOnly) return [];
  const content = (files: readonly WalkedFile[]) => {
    const subjects = files.map((f) => ({ name: f.path, digest: { sha256: f.sha256 } }));
    return Buffer.from(goIndented(statementOf(spec, facts, subjects)));
  };
  return [{ name: spec.filename, content, mtime: epoch ?? Math.floor(Date.now() / 1000) }];
}

/** An in-toto statement of `subjects` (in-toto's StatementHeader, then the predicate). */
function statementOf(
  spec: ProvenanceSpec,
  facts: ProvenanceFacts,
  subject: { name: string; digest: Record<string, string> }[],
): { _type: string; predicateType: string; subject: typeof subject; predicate: Record<string, unknown> } {
  const v02 = predicateV02(spec, facts);
  const predicateType = spec.version === "v1" ? PREDICATE_V1 : PREDICATE_V02;
  return { _type: STATEMENT, predicateType, subject, predicate: spec.version === "v1" ? toV1(v02) : v02 };
}

/**
 * The attestation manifest of `image`: OCI, its config of platform unknown/unknown listing the statement as its
 * one diff_id, its one layer the statement; and the index entry's fields that tie it to `image`.
 */
export function attestationManifest(
  image: Image,
  statement: { predicateType: string; bytes: Buffer },
): { image: Image; platform: Platform; annotations: Record<string, string> } {
  const digest = digestBytes(statement.bytes);
  const layer: Descriptor = {
    mediaType: IN_TOTO,
    digest,
    size: statement.bytes.length,
    annotations: { "in-toto.io/predicate-type": statement.predicateType },
  };
  const bytes = statement.bytes;
  const att = assemble(
    // ocispecs.Image as Go writes it for BuildKit's attestationsConfig
    { architecture: "unknown", os: "unknown", config: {}, rootfs: { type: "layers", diff_ids: [] } },
    [{ descriptor: layer, diffId: digest, from: { openBlob: async () => Readable.from([bytes]) } }],
  );
  return {
    image: att,
    platform: ATTESTATION_PLATFORM,
    annotations: {
      "vnd.docker.reference.digest": image.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    },
  };
}
