/**
 * Docker configs rewritten as skopeo 1.9.3 rewrites them for an OCI manifest: each case is put in a
 * docker-archive made here, copied by skopeo with `--format oci`, and skopeo's config bytes are the expectation.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ociConfigAsGo } from "../../src/oci/go-config.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";

// the digest of 1024 zero bytes, the one (empty) layer of every case's archive
const DIFF = '["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]';
const ROOTFS = `"rootfs":{"type":"layers","diff_ids":${DIFF}}`;

const CASES: Record<string, string> = {
  // Docker's fields dropped, field order, HTML and control escapes, null label, time's zeros cut
  docker: `{"architecture":"arm","variant":"v7","os":"linux","os.version":"10.0","os.features":["a"],"author":"me <x@y> & co","created":"2023-01-02T03:04:05.120000000+01:00","config":{"Hostname":"h","User":"u","ExposedPorts":{"80/tcp":{"x":1},"443/tcp":{}},"Env":["A=1","B=<>&\\u2028\\b\\f\\u0001é"],"Entrypoint":["/bin/sh"],"Cmd":null,"Volumes":{"/v":{}},"WorkingDir":"/w","Labels":{"z":"1","a":"ü<>&","n":null},"StopSignal":"SIGTERM","ArgsEscaped":true,"Healthcheck":{"Test":["CMD","true"]},"OnBuild":null},"container_config":{"Cmd":["x"]},"docker_version":"20",${ROOTFS},"history":[{"created":"2023-01-02T03:04:05Z","created_by":"x","empty_layer":true,"comment":"c"},{"created":"0001-01-01T00:00:00Z"},{}],"extra":5}`,
  minimal: `{"architecture":"amd64","os":"linux",${ROOTFS}}`,
  // keys matched without case (and ſ for s), two label maps merged, empty lists left out, +00:00 as Z
  folded: `{"Architecture":"amd64","OS":"linux","Config":{"env":["A=1"],"uſer":"x","Labels":{"b":"1"},"labels":{"a":"2"},"Cmd":[]},"RootFS":{"Type":"layers","DIFF_IDS":${DIFF}},"created":"2023-01-02T03:04:05.000000000+00:00","history":[], "os.features":[]}`,
  // a comma, a one-digit hour and 13 digits of second; keys sorted by UTF-8 bytes; a lone surrogate, U+2029
  odd: `{"architecture":"amd64","os":"linux","created":"2023-01-02T3:04:05,1234567890123-05:30","config":{"Env":[],"Labels":{"é":"1","z":"2","Z":"3","😀":"4","\\uffff":"5","x":"\\ud800\\u2029\\u007f\\u0000"},"ExposedPorts":{"1/tcp":null,"2/udp":{}}},${ROOTFS}}`,
  // Docker-only container fields dropped, history keys folded, empty strings and maps left out
  dropped: `{"architecture":"amd64","os":"linux","config":{"Memory":5,"MemorySwap":1,"CpuShares":2,"Shell":["/bin/sh"],"Image":"sha256:abc","ArgsEscaped":false,"Labels":{}},${ROOTFS},"history":[{"Created":"2020-01-01T00:00:00.5Z","CREATED_BY":"x","EmptyLayer":true,"empty_LAYER":true}],"variant":"","os.version":null,"created":"2020-12-31T23:59:59Z"}`,
  // NUL, astral characters, \n \t \r, quotes and backslashes; a negative offset with microseconds
  escapes: `{"architecture":"amd64","os":"linux","config":{"Env":["a\\u0000b","\\u00e9\\ud83d\\ude00","line\\nbreak\\ttab\\r","\\"quoted\\\\"]},${ROOTFS},"created":"2020-06-01T12:00:00.000001-07:00"}`,
  nulls: `{"architecture":"amd64","os":"linux","created":null,"history":[null,{"created":null,"empty_layer":false}],${ROOTFS}}`,
};

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
});

/** skopeo's config for `config`: a docker-archive of it copied with --format oci. */
async function skopeoConfig(name: string, config: string): Promise<Buffer> {
  const d = join(dir, name);
  await mkdir(d);
  const hex = createHash("sha256").update(config).digest("hex");
  await writeFile(join(d, `${hex}.json`), config);
  await writeFile(join(d, "layer.tar"), Buffer.alloc(1024));
  const manifest = [{ Config: `${hex}.json`, RepoTags: ["x:1"], Layers: ["layer.tar"] }];
  await writeFile(join(d, "manifest.json"), JSON.stringify(manifest));
  const tar = join(dir, `${name}.tar`);
  await run("tar", ["-cf", tar, "-C", d, `${hex}.json`, "layer.tar", "manifest.json"]);
  const out = join(dir, `${name}-oci`);
  await run("skopeo", ["copy", "-q", "--format", "oci", `docker-archive:${tar}`, `oci:${out}:x`]);
  const blob = async (digest: string) => readFile(join(out, "blobs", ...digest.split(":")));
  const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
  return blob(JSON.parse((await blob(index.manifests[0].digest)).toString()).config.digest);
}

describe("ociConfigAsGo", () => {
  for (const [name, config] of Object.entries(CASES)) {
    it(`writes skopeo's bytes: ${name}`, async () => {
      const ours = ociConfigAsGo(Buffer.from(config), "config");
      expect(ours.toString()).toBe((await skopeoConfig(name, config)).toString());
    });
  }

  it("escapes as Go does and drops Docker's fields", () => {
    const out = ociConfigAsGo(Buffer.from(CASES.docker!), "config").toString();
    expect(out).toContain('"author":"me \\u003cx@y\\u003e \\u0026 co"');
    expect(out).toContain('"created":"2023-01-02T03:04:05.12+01:00"');
    expect(out).not.toContain("Healthcheck");
    expect(out).not.toContain("container_config");
  });

  it("refuses what Go's decoder refuses, naming the field, as skopeo fails", () => {
    const bad = (doc: string) => () => ociConfigAsGo(Buffer.from(doc), "config sha256:x");
    expect(bad(`{"config":{"Env":"x"}}`)).toThrow(
      'config sha256:x.config.Env cannot be read as OCI\'s: it is "x"',
    );
    expect(bad(`{"created":"2023-02-29T00:00:00Z"}`)).toThrow(
      'config sha256:x.created is not an RFC 3339 time: "2023-02-29T00:00:00Z"',
    );
    expect(bad(`{"config":{"ExposedPorts":{"80/tcp":1}}}`)).toThrow(
      'config sha256:x.config.ExposedPorts["80/tcp"]',
    );
    expect(bad("[1]")).toThrow("config sha256:x is not a JSON object");
    expect(bad("{")).toThrow("config sha256:x is not JSON");
  });
});
