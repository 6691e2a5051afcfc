/**
 * Issue 20: `--secret id=…,env=VARIABLE` (docker buildx's syntax) through the real CLI. The secret reaches the
 * RUN steps that mount it (as a file and as an environment variable) and nothing else: the attack greps every
 * file the build leaves (the image's layers decompressed, its config and history, the exported cache, berth's
 * own cache) and everything it prints for the value, also when a step fails.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { localBase, writeContext } from "../helpers/local.ts";

const VALUE = "tok-Zq8Hv2LmXw9Rk4Ts7Nb3";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-secret-env-");
  base = await localBase(join(tmp, "base"));
});

/** Every file under `dir`, gzip members decompressed. */
async function* files(dir: string): AsyncGenerator<{ path: string; bytes: Buffer }> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    let bytes = await readFile(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    yield { path, bytes };
  }
}

/** Files under these folders that hold the value, raw or base64. */
async function holding(dirs: string[]): Promise<string[]> {
  const found: string[] = [];
  const needles = [Buffer.from(VALUE), Buffer.from(Buffer.from(VALUE).toString("base64").slice(0, 20))];
  for (const d of dirs) {
    for await (const f of files(d)) if (needles.some((n) => f.bytes.includes(n))) found.push(f.path);
  }
  return found;
}

async function build(name: string, dockerfile: string, args: string[], env: Record<string, string>) {
  const ctx = await writeContext(join(tmp, name), {
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
  });
  const out = join(tmp, `out-${name}`);
  const home = join(tmp, `home-${name}`);
  const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${out}:img`, ...args], { home, env });
  return { ...r, out, home };
}

describe("--secret env=", () => {
  it("reaches RUN as env= and as a file, and lands in no layer, config, history, cache or output", async () => {
    const cache = join(tmp, "cache-env");
    const r = await build(
      "env",
      `FROM {{BASE}}
RUN --mount=type=secret,id=tok,env=TOKEN --mount=type=secret,id=tok,target=/run/secrets/t2 \\
    [ "$TOKEN" = "$(cat /run/secrets/t2)" ] && echo \${#TOKEN} > /len && env > /env-seen
RUN --mount=type=secret,id=tok cp /run/secrets/tok /leak-attempt-removed && rm /leak-attempt-removed && echo ok > /ok
`,
      ["--secret", "id=tok,env=MY_TOKEN", "--cache-to", `type=local,dest=${cache},mode=max`],
      { MY_TOKEN: VALUE },
    );
    if (r.code !== 0) throw new Error(r.stderr);
    // The step saw the value: its length is in the image (the value itself only in /env-seen, below).
    await run("umoci", ["unpack", "--image", `${r.out}:img`, `${r.out}-bundle`]);
    expect(await readFile(join(`${r.out}-bundle/rootfs`, "len"), "utf8")).toBe(`${VALUE.length}\n`);
    // /env-seen is the step's own copy of its environment (the user wrote the value there on purpose); apart
    // from it, the value is nowhere.
    const envSeen = join(`${r.out}-bundle/rootfs`, "env-seen");
    expect(await readFile(envSeen, "utf8")).toContain(`TOKEN=${VALUE}`);
    const leaks = (await holding([r.out, cache, r.home])).filter(
      (p) => !p.includes("/blobs/") && !p.endsWith("/env-seen"),
    );
    expect(leaks).toEqual([]);
    // Layers: only the layer of the step that wrote /env-seen holds it.
    const layerLeaks = await holding([join(r.out, "blobs"), join(cache, "blobs"), join(r.home, "cache")]);
    expect(layerLeaks.length).toBeGreaterThanOrEqual(3);
    const index = JSON.parse(await readFile(join(r.out, "index.json"), "utf8"));
    const blob = (d: string) => join(r.out, "blobs", "sha256", d.slice(7));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
    const envLayer = manifest.layers[1].digest.slice(7) as string;
    expect(layerLeaks.every((p) => p.endsWith(envLayer))).toBe(true);
    expect(`${r.stdout}${r.stderr}`).not.toContain(VALUE);
  });

  it("a failing step that mounts it prints no value; id= alone reads the variable named id", async () => {
    const r = await build(
      "fail",
      `FROM {{BASE}}
RUN --mount=type=secret,id=API_KEY,env=KEY [ "$KEY" = nope ]
`,
      ["--secret", "id=API_KEY"],
      { API_KEY: VALUE },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:2/);
    expect(`${r.stdout}${r.stderr}`).not.toContain(VALUE);
    expect((await holding([r.home])).filter((p) => !p.includes("/tmp/"))).toEqual([]);
  });

  it("type=env,src=VARIABLE; an unset variable is one sentence naming it, and nothing is written", async () => {
    const ok = await build(
      "typed",
      `FROM {{BASE}}
RUN --mount=type=secret,id=t,env=T [ "$T" = "${VALUE}" ] && echo ok > /ok
`,
      ["--secret", "type=env,id=t,src=MY_TOKEN"],
      { MY_TOKEN: VALUE },
    );
    if (ok.code !== 0) throw new Error(ok.stderr);
    const bad = await build(
      "unset",
      `FROM {{BASE}}
RUN --mount=type=secret,id=t,env=T true
`,
      ["--secret", "id=t,env=NOT_SET_ANYWHERE"],
      {},
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(
      /--secret "id=t,env=NOT_SET_ANYWHERE": the environment variable NOT_SET_ANYWHERE is not set/,
    );
    await expect(stat(bad.out)).rejects.toThrow();
    const both = await build("both", "FROM {{BASE}}\n", ["--secret", "id=t,env=A,src=/x"], { A: "1" });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/give src= or env=, not both/);
    // a value pasted into the flag by mistake is not echoed back
    for (const flag of [`id=t,value=${VALUE}`, `id=t,${VALUE}`]) {
      const pasted = await build("pasted", "FROM {{BASE}}\n", ["--secret", flag], {});
      expect(pasted.code).not.toBe(0);
      expect(pasted.stderr).toMatch(/--secret "id=t,…": /);
      expect(`${pasted.stdout}${pasted.stderr}`).not.toContain(VALUE);
    }
  });
});
