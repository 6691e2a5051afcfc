/**
 * The default buildpacks' one-Python-start reads of the restored layers' `[metadata]` (go.py and rust.py `facts`,
 * the `layer_facts` function of Maven's and java-jar's bin/build), which bin/build `eval`s: values come back as
 * written, numbers as the restore writes them (floats), and a value from a previous image's metadata label (not
 * berth's own) runs nothing when eval'd. Runs the helpers with the host's python3 and sh: no build, no sandbox.
 */
import { execFile } from "node:child_process";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp.ts";

const run = promisify(execFile);
const BUILDPACKS = join(import.meta.dirname, "../../../builders/default/buildpacks");

let work: string;

beforeAll(async () => {
  work = await tempDir();
  await mkdir(join(work, "app"), { recursive: true });
  await writeFile(join(work, "app", "go.mod"), "module example.com/x\n\ngo 1.22\n\ntoolchain go1.22.5\n");
  await writeFile(join(work, "app", "Cargo.toml"), '[package]\nname = "hello"\nversion = "0.1.0"\n');
  await writeFile(join(work, "app", "rust-toolchain"), "1.99.1\n");
});

/** A layers directory as berth's restorer writes a layer's TOML (indented, numbers as floats), with a hostile value. */
async function makeLayers(name: string): Promise<{ layers: string; pwned: string }> {
  const layers = join(work, name);
  const pwned = join(work, `${name}.pwned`);
  await mkdir(layers);
  await writeFile(
    join(layers, "go-mod.toml"),
    `[types]\n  cache = true\n\n[metadata]\n  sum = "abc"\n  count = 2.0\n  odd = "a'b $(touch ${pwned}) \\"q\\" \`touch ${pwned}\`"\n`,
  );
  await writeFile(join(layers, "launch.toml"), '[metadata]\n  sum = "not a layer"\n');
  await writeFile(join(layers, "broken.toml"), "[metadata\n");
  return { layers, pwned };
}

/** `eval` the assignments `cmd` prints (in `app`), then print the three values the test reads. */
async function evalFacts(cmd: string): Promise<string[]> {
  const script = `set -eu; facts="$(${cmd})"; eval "$facts"; printf '%s\\n' "$meta_go_mod_sum" "$meta_go_mod_count" "$meta_go_mod_odd" "\${meta_launch_sum:-none}"`;
  const { stdout } = await run("sh", ["-c", script], { cwd: join(work, "app") });
  return stdout.split("\n").slice(0, 4);
}

async function layerFactsOf(buildpack: string): Promise<string> {
  const text = await readFile(join(BUILDPACKS, buildpack, "bin", "build"), "utf8");
  const fn = /^layer_facts\(\) \{[\s\S]*?"\$1"; \}$/m.exec(text);
  if (!fn) throw new Error(`${buildpack}/bin/build has no layer_facts function`);
  return fn[0];
}

describe("the default buildpacks' layer facts", () => {
  const expected = ["abc", "2.0", `a'b $(touch PWNED) "q" \`touch PWNED\``, "none"];
  const cases: [string, (layers: string) => Promise<string>][] = [
    ["go.py facts", async (l) => `python3 ${join(BUILDPACKS, "go", "lib", "go.py")} facts ${l}`],
    ["rust.py facts", async (l) => `python3 ${join(BUILDPACKS, "rust", "lib", "rust.py")} facts ${l}`],
    ["maven's layer_facts", async (l) => `${await layerFactsOf("maven")}\nlayer_facts ${l}`],
    ["java-jar's layer_facts", async (l) => `${await layerFactsOf("java-jar")}\nlayer_facts ${l}`],
  ];
  for (const [i, [name, cmd]] of cases.entries()) {
    it(`${name}: every [metadata] value as written, eval'd without running any`, async () => {
      const { layers, pwned } = await makeLayers(`layers-${i}`);
      const got = await evalFacts(await cmd(layers));
      expect(got).toEqual(expected.map((v) => v.replaceAll("PWNED", pwned)));
      await expect(access(pwned)).rejects.toThrow();
    });
  }

  it("go.py and rust.py facts: the requested toolchain and Rust's binary name", async () => {
    const app = join(work, "app");
    const { layers } = await makeLayers("layers-toolchain");
    const go = await run("python3", [join(BUILDPACKS, "go", "lib", "go.py"), "facts", layers], { cwd: app });
    expect(go.stdout).toMatch(/^want=1\.22\.5\norigin='go\.mod'"'"'s toolchain line'\nexactness=exact\n/);
    const rust = await run("python3", [join(BUILDPACKS, "rust", "lib", "rust.py"), "facts", layers], {
      cwd: app,
    });
    expect(rust.stdout).toMatch(/^channel=1\.99\.1\norigin=rust-toolchain\nbinary=hello\n/);
  });
});
