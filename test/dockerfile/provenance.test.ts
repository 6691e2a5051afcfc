/**
 * `berth build --provenance` / `--attest type=provenance`: BuildKit's SLSA provenance attestation, read back by
 * its peers: BuildKit v0.26.2's own types decoding strictly (test/helpers/provenance-oracle), skopeo copying the
 * index whole through a real registry (docker-registry), and buildx's `imagetools inspect` when it is built.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { link, lstat, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildPlatforms } from "../../src/dockerfile/platforms.ts";
import { imagePurl, invocationId } from "../../src/dockerfile/provenance.ts";
import { readTar } from "../../src/layer/index.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { provenanceOracle } from "../helpers/provenance-oracle.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { localBase, writeContext } from "./helpers/local.ts";
import { twoPlatformBase } from "./helpers/multiarch.ts";

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}
interface Statement {
  _type: string;
  predicateType: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicate: Record<string, unknown>;
}

const blob = (layout: string, digest: string) => readFile(join(layout, "blobs", "sha256", digest.slice(7)));
const json = async <T>(layout: string, digest: string) =>
  JSON.parse((await blob(layout, digest)).toString()) as T;

/** The index an OCI layout's one reference points at, its image, its attestation manifest and statement. */
async function attested(layout: string) {
  const top = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Desc[] };
  expect(top.manifests).toHaveLength(1);
  const index = await json<{ manifests: Desc[] }>(layout, top.manifests[0]!.digest);
  const [image, att] = index.manifests;
  const manifest = await json<{ config: Desc; layers: Desc[] }>(layout, att!.digest);
  const statementBytes = await blob(layout, manifest.layers[0]!.digest);
  return {
    indexDigest: top.manifests[0]!.digest,
    index,
    image: image!,
    att: att!,
    manifest,
    config: await json<Record<string, unknown>>(layout, manifest.config.digest),
    statementBytes,
    statement: JSON.parse(statementBytes.toString()) as Statement,
  };
}

describe("invocationId", () => {
  it("makes BuildKit's 25-character invocation ids", () => {
    const a = invocationId();
    expect(a).toMatch(/^[a-z0-9]{25}$/);
    expect(invocationId()).not.toBe(a);
  });
});

describe("imagePurl", () => {
  it("names images as BuildKit's purl.RefToPURL does", async () => {
    const cases = [
      { ref: "busybox", platform: { os: "linux", architecture: "amd64" } },
      {
        ref: "docker.io/library/alpine:3.20",
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
      { ref: "127.0.0.1:5000/team/app:1.2", platform: { os: "linux", architecture: "arm", variant: "v7" } },
      { ref: "ghcr.io/org/tool", platform: undefined },
      {
        ref: `example.com/x/y@sha256:${"a".repeat(64)}`,
        platform: { os: "linux", architecture: "amd64" },
      },
      { ref: `quay.io/p/q:v1@sha256:${"b".repeat(64)}`, platform: undefined },
    ];
    const answer = await provenanceOracle({
      purls: cases.map((c) => ({ ref: c.ref, ...(c.platform ?? {}) })),
    });
    const ours = cases.map((c) => imagePurl(parseImageArgument(c.ref), c.platform));
    expect(ours).toEqual(answer.purls);
  }, 600_000);
});

describe("berth build --provenance", () => {
  let tmp: string;
  let base: string;
  let registry: RegistryHarness;
  let baseDigest: string;
  const SECRET = "s3cr3t-never-in-the-image-81f2";

  beforeAll(async () => {
    tmp = await tempDir("berth-df-provenance-");
    base = await localBase(join(tmp, "base"));
    registry = await startRegistry();
    for (const tag of ["1", "2"]) {
      await run("skopeo", ["copy", "--dest-tls-verify=false", base, `docker://${registry.host}/base:${tag}`]);
    }
    const inspected = await run("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://${registry.host}/base:1`,
    ]);
    baseDigest = (JSON.parse(inspected) as { Digest: string }).Digest;
  }, 600_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it("mode=max: pushed as an index with the attestation manifest, skopeo copies it whole, BuildKit's types read it strictly, no secret value in it", async () => {
    const ctx = await writeContext(join(tmp, "max"), {
      Dockerfile: `FROM ${registry.host}/base:1
ARG GREETING
RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo "$GREETING" > /hi
COPY --from=${registry.host}/base:2 /bin/busybox /bb
`,
    });
    const ref = `${registry.host}/app:max`;
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `docker://${ref}`,
        "--push",
        "--provenance",
        "mode=max",
        "--secret",
        "id=tok,env=TOKEN",
        "--secret",
        "id=given-not-mounted,env=TOKEN",
        "--build-arg",
        "GREETING=hello",
        "--json",
      ],
      { home: join(tmp, "home"), env: { TOKEN: SECRET } },
    );
    expect(r.stderr).not.toContain(SECRET);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { digest: string; descriptor: Desc };
    const layout = join(tmp, "max-copy");
    await run("skopeo", ["copy", "--all", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:app`]);
    const a = await attested(layout);
    // skopeo kept the index as berth wrote it: the digest --json printed
    expect(a.indexDigest).toBe(doc.digest);
    expect(doc.descriptor.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(a.index.manifests).toHaveLength(2);
    expect(a.image.platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(a.att.platform).toEqual({ architecture: "unknown", os: "unknown" });
    expect(a.att.annotations).toEqual({
      "vnd.docker.reference.digest": a.image.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    });
    expect(a.manifest.layers).toHaveLength(1);
    expect(a.manifest.layers[0]!.mediaType).toBe("application/vnd.in-toto+json");
    expect(a.manifest.layers[0]!.annotations).toEqual({
      "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2",
    });
    expect(a.config).toEqual({
      architecture: "unknown",
      os: "unknown",
      config: {},
      rootfs: { type: "layers", diff_ids: [a.manifest.layers[0]!.digest] },
    });
    const decoded = await provenanceOracle({ statement: a.statementBytes });
    const p = decoded.statement!.predicate as {
      builder: { id: string };
      buildType: string;
      materials: { uri: string; digest: Record<string, string> }[];
      invocation: {
        configSource: Record<string, unknown>;
        parameters: {
          frontend: string;
          args: Record<string, string>;
          secrets: { id: string }[];
          locals: unknown[];
        };
        environment: { platform: string };
      };
      metadata: Record<string, unknown> & { completeness: Record<string, boolean> };
    };
    expect(decoded.statement!.subject).toEqual([
      {
        name: `pkg:docker/${registry.host.replace(":", "%3A")}/app@max?platform=linux%2Famd64`,
        digest: { sha256: a.image.digest.slice(7) },
      },
    ]);
    expect(p.builder).toEqual({ id: "" });
    expect(p.buildType).toBe("https://mobyproject.org/buildkit@v1");
    // both bases, each with the digest its reference resolved to
    expect(p.materials).toEqual([
      {
        uri: `pkg:docker/${registry.host.replace(":", "%3A")}/base@1?platform=linux%2Famd64`,
        digest: { sha256: baseDigest.slice(7) },
      },
      {
        uri: `pkg:docker/${registry.host.replace(":", "%3A")}/base@2?platform=linux%2Famd64`,
        digest: { sha256: baseDigest.slice(7) },
      },
    ]);
    expect(p.invocation.configSource).toEqual({ entryPoint: "Dockerfile" });
    expect(p.invocation.parameters.frontend).toBe("dockerfile.v0");
    expect(p.invocation.parameters.args).toEqual({ "build-arg:GREETING": "hello" });
    // the secrets RUN mounts (as BuildKit's Capture: not the ones given), optional unless one requires it
    expect(p.invocation.parameters.secrets).toEqual([{ id: "tok", optional: true }]);
    expect(p.invocation.parameters.locals).toEqual([{ name: "context" }, { name: "dockerfile" }]);
    expect(p.invocation.environment).toEqual({ platform: "linux/amd64" });
    expect(p.metadata.completeness).toEqual({ parameters: true, environment: true, materials: false });
    expect(p.metadata.buildInvocationID).toMatch(/^[a-z0-9]{25}$/);
    expect(Date.parse(p.metadata.buildFinishedOn as string)).toBeGreaterThanOrEqual(
      Date.parse(p.metadata.buildStartedOn as string),
    );
    const source = (
      p.metadata["https://mobyproject.org/buildkit@v1#metadata"] as { source: { infos: { data: string }[] } }
    ).source;
    expect(Buffer.from(source.infos[0]!.data, "base64").toString()).toBe(
      await readFile(join(ctx, "Dockerfile"), "utf8"),
    );
    // its layers by step, each the chain up to it: the base's (step 0, as BuildKit's image source), the RUN's
    // (step 1) and the COPY's (step 2)
    const pushed = await json<{ layers: Desc[] }>(layout, a.image.digest);
    const strip = (l: Desc) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size });
    expect(
      (p.metadata["https://mobyproject.org/buildkit@v1#metadata"] as { layers: unknown }).layers,
    ).toEqual({
      "step0:0": [pushed.layers.slice(0, 1).map(strip)],
      "step1:0": [pushed.layers.slice(0, 2).map(strip)],
      "step2:0": [pushed.layers.slice(0, 3).map(strip)],
    });
    // buildx reads it from the registry as it reads BuildKit's (imagetools inspect's Provenance)
    const buildx = (await run("bash", [resolve(import.meta.dirname, "../../scripts/buildx.sh")])).trim();
    const inspected = JSON.parse(
      await run(buildx, ["imagetools", "inspect", ref, "--format", "{{json .Provenance}}"], {
        env: { ...process.env, DOCKER_CONFIG: join(tmp, "docker-config") },
      }),
    ) as { SLSA: typeof p };
    expect(inspected.SLSA).toEqual(decoded.statement!.predicate);
    // no blob anywhere in what was pushed holds the secret's value
    for (const name of await readdir(join(layout, "blobs", "sha256"))) {
      expect((await readFile(join(layout, "blobs", "sha256", name))).includes(SECRET)).toBe(false);
    }
  }, 600_000);

  it("mode=min, version=v1: build args left out; an OCI layout holds the index, a docker-archive the image alone", async () => {
    // ADD of a URL: an http material with its content's digest
    const served = "fetched by ADD\n";
    const server = createServer((_req, res) => res.end(served));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f.txt`;
    onTestFinished(() => new Promise<void>((ok) => server.close(() => ok())));
    const ctx = await writeContext(join(tmp, "min"), {
      Dockerfile: `FROM ${base}\nARG V\nLABEL v=$V\nADD ${url} /f.txt\n`,
    });
    const layout = join(tmp, "min-out");
    const archive = join(tmp, "min.tar");
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${layout}:app`,
        "-o",
        `type=docker,dest=${archive}`,
        "--attest",
        "type=provenance,mode=min,version=v1,builder-id=https://ci.example/1",
        "--build-arg",
        "V=7",
        "--json",
      ],
      { home: join(tmp, "home"), env: { SOURCE_DATE_EPOCH: "0" } },
    );
    expect(r.code, r.stderr).toBe(0);
    const a = await attested(layout);
    expect(a.statement.predicateType).toBe("https://slsa.dev/provenance/v1");
    // an oci: destination has no name: no subject, as BuildKit's exporter of an unnamed image
    expect(a.statement.subject).toEqual([]);
    const decoded = await provenanceOracle({ statement: a.statementBytes });
    const p = decoded.statement!.predicate as {
      buildDefinition: Record<string, unknown> & { externalParameters: { request: Record<string, unknown> } };
      runDetails: { builder: { id: string }; metadata: Record<string, unknown> };
    };
    expect(p.buildDefinition.buildType).toBe(
      "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
    );
    expect(p.buildDefinition.externalParameters.request.args).toBeUndefined();
    expect(p.runDetails.builder.id).toBe("https://ci.example/1");
    expect(p.runDetails.metadata.buildkit_completeness).toEqual({
      request: false,
      resolvedDependencies: false,
    });
    // the base from an OCI layout: a pkg:oci purl, with the layout's digest
    const baseIndex = JSON.parse(await readFile(join(tmp, "base", "layout", "index.json"), "utf8")) as {
      manifests: (Desc & { annotations: Record<string, string> })[];
    };
    const baseDesc = baseIndex.manifests.find(
      (m) => m.annotations["org.opencontainers.image.ref.name"] === "base",
    )!;
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      { uri: "pkg:oci/layout@base?platform=linux%2Famd64", digest: { sha256: baseDesc.digest.slice(7) } },
      { uri: url, digest: { sha256: createHash("sha256").update(served).digest("hex") } },
    ]);
    // --load: the store gets the image alone, as buildx's docker exporter loads it; --json names it
    const load = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        "app:load",
        "--load",
        "--provenance=true",
        "--build-arg",
        "V=7",
        "--json",
      ],
      {
        home: join(tmp, "home"),
        env: { SOURCE_DATE_EPOCH: "0" },
      },
    );
    expect(load.code, load.stderr).toBe(0);
    expect((JSON.parse(load.stdout) as { digest: string }).digest).toBe(a.image.digest);
    const stored = await berth(["inspect", "app:load", "--json"], { home: join(tmp, "home") });
    expect(stored.stdout).not.toContain("unknown");
    // the docker-archive: the image alone, the index's first manifest
    const listed = JSON.parse(await run("tar", ["-xOf", archive, "manifest.json"])) as { Config: string }[];
    const image = await json<{ config: Desc }>(layout, a.image.digest);
    expect(listed[0]!.Config).toBe(`${image.config.digest.slice(7)}.json`);
  }, 600_000);
});

describe("berth build's attestation flags, refused before anything is built", () => {
  it("--sbom, a bad --provenance, and --provenance on a buildpacks build: one sentence, exit 2, nothing written", async () => {
    const dir = await tempDir();
    const ctx = await writeContext(join(dir, "ctx"), { Dockerfile: "FROM scratch\n" });
    const out = join(dir, "out");
    const cases: [string[], RegExp][] = [
      [["--dockerfile", "--sbom=true"], /^berth: --sbom true: berth makes no SBOM attestation/m],
      [
        ["--dockerfile", "--provenance", "mode=full-ish"],
        /^berth: --provenance mode=full-ish: mode="full-ish" is not/m,
      ],
      [["--provenance=1"], /--provenance applies only to Dockerfile builds; this is a buildpacks build/],
    ];
    for (const [flags, message] of cases) {
      const r = await berth(["build", ctx, "-t", `oci:${out}:x`, ...flags], { home: join(dir, "home") });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    }
  });
});

describe("buildPlatforms with provenance", () => {
  it("lists one attestation manifest per platform after the images, each naming its own image and its base", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.txt"), "a");
    const out = join(dir, "out");
    // a two-platform base: each platform's material is the index its reference names, with that platform
    const base = await twoPlatformBase(join(dir, "base"));
    const baseIndex = JSON.parse(await readFile(join(dir, "base", "layout", "index.json"), "utf8")) as {
      manifests: (Desc & { annotations: Record<string, string> })[];
    };
    const baseDigest = baseIndex.manifests.find(
      (m) => m.annotations["org.opencontainers.image.ref.name"] === "base",
    )!.digest;
    const r = await buildPlatforms(
      {
        contextDir: dir,
        dockerfile: { text: `FROM ${base}\nARG TARGETARCH\nLABEL arch=$TARGETARCH\nCOPY a.txt /\n` },
        destinations: [parseImageArgument(`oci:${out}:multi`), parseImageArgument("multi:1")],
        compression: "none",
        provenance: {
          mode: "min",
          version: "v0.2",
          builderId: "",
          reproducible: false,
          inlineOnly: false,
          filename: "provenance.json",
        },
      },
      [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")],
      { home: join(dir, "home"), env: {} },
    );
    const index = await json<{ manifests: Desc[] }>(out, r.digest);
    const images = r.platforms.map((p) => p.result.digest);
    expect(
      index.manifests.map((m) => [m.platform, m.annotations?.["vnd.docker.reference.digest"] ?? m.digest]),
    ).toEqual([
      [{ architecture: "amd64", os: "linux" }, images[0]],
      [{ architecture: "arm64", os: "linux" }, images[1]],
      [{ architecture: "unknown", os: "unknown" }, images[0]],
      [{ architecture: "unknown", os: "unknown" }, images[1]],
    ]);
    for (const [n, arch] of ["amd64", "arm64"].entries()) {
      const manifest = await json<{ layers: Desc[] }>(out, index.manifests[2 + n]!.digest);
      const statement = await blob(out, manifest.layers[0]!.digest);
      const decoded = await provenanceOracle({ statement });
      // the store name as its subject, with this platform's image
      expect(decoded.statement!.subject).toEqual([
        { name: `pkg:docker/multi@1?platform=linux%2F${arch}`, digest: { sha256: images[n]!.slice(7) } },
      ]);
      expect(decoded.statement!.predicate.materials).toEqual([
        { uri: `pkg:oci/layout@base?platform=linux%2F${arch}`, digest: { sha256: baseDigest.slice(7) } },
      ]);
    }
  }, 600_000);
});

/** A folder's regular files (hard links each), in fsutil's walk order, as `path sha256` lines. */
async function walkedFiles(root: string, dir = ""): Promise<string[]> {
  const out: string[] = [];
  const names = (await readdir(join(root, dir))).sort((a, b) =>
    Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  for (const name of names) {
    const path = dir ? `${dir}/${name}` : name;
    const st = await lstat(join(root, path));
    if (st.isDirectory()) out.push(...(await walkedFiles(root, path)));
    else if (st.isFile())
      out.push(
        `${path} ${createHash("sha256")
          .update(await readFile(join(root, path)))
          .digest("hex")}`,
      );
  }
  return out;
}

describe("provenance beside -o type=local|tar (BuildKit's CreateFS)", () => {
  it("writes the statement of the exported files as BuildKit's exporters do: Go's indented JSON, 0600, at the epoch; tar and prefix too", async () => {
    const dir = await tempDir();
    // hard-linked files, names a walk and a sort of whole paths order differently, and eleven layers (step10
    // sorts before step2 in Go's map order)
    const ctx = await writeContext(join(dir, "ctx"), { "a.txt": "a\n", "a-b": "x\n", "a/c": "c\n" });
    await link(join(ctx, "a.txt"), join(ctx, "hard"));
    const copies = Array.from({ length: 10 }, (_, n) => `COPY a.txt /n${n}`).join("\n");
    await writeFile(join(ctx, "Dockerfile"), `FROM scratch\nCOPY . /app\n${copies}\n`);
    const local = join(dir, "local");
    const tar = join(dir, "out.tar");
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "--provenance",
        "mode=max",
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "--build-arg",
        "Z=1",
        "--build-arg",
        "B=2",
        "-o",
        `type=local,dest=${local}`,
        "-o",
        `type=tar,dest=${tar},attestation-prefix=att-`,
      ],
      { home: join(dir, "home") },
    );
    expect(r.code, r.stderr).toBe(0);
    const bytes = await readFile(join(local, "provenance.json"));
    const st = await lstat(join(local, "provenance.json"));
    expect([st.mode & 0o777, st.mtimeMs / 1000]).toEqual([0o600, 1700000000]);
    // BuildKit's types read it strictly, and Go's MarshalIndent writes the same bytes
    const answer = await provenanceOracle({ statement: bytes });
    expect(bytes.toString()).toBe(answer.indented);
    const statement = JSON.parse(bytes.toString()) as Statement;
    await rm(join(local, "provenance.json"));
    expect(statement.subject.map((s) => `${s.name} ${s.digest.sha256}`)).toEqual(await walkedFiles(local));
    // a folder's names sorted, then each folder's own: "a/" before "a-b"
    expect(statement.subject.map((s) => s.name).slice(0, 4)).toEqual([
      "app/Dockerfile",
      "app/a/c",
      "app/a-b",
      "app/a.txt",
    ]);
    const p = statement.predicate as { invocation: { parameters: { args: Record<string, string> } } };
    expect(Object.keys(p.invocation.parameters.args)).toEqual([
      "build-arg:B",
      "build-arg:SOURCE_DATE_EPOCH",
      "build-arg:Z",
    ]);
    // the tar: the same statement, under the prefix, in its walk place, root's and 0600
    const entries: string[] = [];
    let inTar: Buffer | undefined;
    for await (const { header, body } of readTar(createReadStream(tar))) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      entries.push(header.path.replace(/\/$/, ""));
      if (header.path === "att-provenance.json") {
        inTar = Buffer.concat(chunks);
        expect([header.mode, header.uid, header.gid, header.mtime]).toEqual([0o600, 0, 0, 1700000000]);
      }
    }
    expect(inTar?.toString()).toBe(bytes.toString());
    expect(entries.indexOf("att-provenance.json")).toBe(entries.indexOf("app/hard") + 1);
    // inline-only: in images only
    const inline = join(dir, "inline");
    const only = await berth(
      ["build", ctx, "--dockerfile", "--attest", "type=provenance,inline-only=true", "-o", inline],
      { home: join(dir, "home") },
    );
    expect(only.code, only.stderr).toBe(0);
    expect(await readdir(inline)).toEqual(["app", ...Array.from({ length: 10 }, (_, n) => `n${n}`)]);
  }, 300_000);

  it("several platforms: one statement per platform, in its folder, or named for it when the folders are shared", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.txt"), "a");
    const base = await twoPlatformBase(join(dir, "base"));
    const build = (dest: string, split: boolean) =>
      buildPlatforms(
        {
          contextDir: dir,
          dockerfile: { text: `FROM ${base}\nARG TARGETARCH\nCOPY a.txt /a-$TARGETARCH\n` },
          destinations: [],
          exports: [{ type: "local", dir: dest, split, prefix: "x-", text: dest }],
          compression: "none",
          sourceDateEpoch: 0,
          provenance: {
            mode: "min",
            version: "v1",
            builderId: "",
            reproducible: false,
            inlineOnly: false,
            filename: "slsa.json",
          },
        },
        [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")],
        { home: join(dir, "home"), env: {} },
      );
    const split = join(dir, "split");
    await build(split, true);
    for (const arch of ["amd64", "arm64"]) {
      const bytes = await readFile(join(split, `linux_${arch}`, "x-slsa.json"));
      expect(bytes.toString()).toBe((await provenanceOracle({ statement: bytes })).indented);
      const s = JSON.parse(bytes.toString()) as Statement;
      expect(s.subject.map((x) => x.name)).toContain(`a-${arch}`);
      expect(s.subject.map((x) => x.name)).not.toContain(`a-${arch === "amd64" ? "arm64" : "amd64"}`);
    }
    const shared = join(dir, "shared");
    await build(shared, false);
    const names = await readdir(shared);
    expect(names).toContain("x-slsa.linux_amd64.json");
    expect(names).toContain("x-slsa.linux_arm64.json");
  }, 600_000);
});
