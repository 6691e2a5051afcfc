/**
 * The example apps, differential: berth's default builder (its Debian stack from the shared debootstrap cache)
 * builds examples/static, procfile and python with `berth build`, and the reference lifecycle's `creator` builds
 * them in the same builder image (its own /cnb/buildpacks and /cnb/order.toml; only /cnb/lifecycle mounted).
 * The chosen group, the processes and buildpacks of metadata.toml and of io.buildpacks.build.metadata, and the
 * image's entrypoint must be the same.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { copyExample, has, homeWithSharedStack, shell } from "../default-builder/helpers.ts";
import { explain, mask, parseTomlText, plain } from "./compare.ts";
import { layersFile, referenceLifecycle, runCreator } from "./lifecycle.ts";

const BUILDER = "berth/default-builder:bookworm";
const EXAMPLES = ["static", "procfile", "python", "go", "nodejs", "java-jar"];
const NO_TINY = ["-e", "BERTH_TINY_RUN=false"];

let dir: string;
let home: string;
let reg: RegistryHarness;
let runImage: string;

beforeAll(async () => {
  dir = await tempDir("berth-reference-examples-");
  home = await homeWithSharedStack(dir);
  const [, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  const made = await berth(["builder", "default", "--create"], { home });
  if (made.code !== 0) throw new Error(`the default builder: ${made.stderr}`);
  const info = await berth(["builder", "inspect", BUILDER, "--json"], { home });
  if (info.code !== 0) throw new Error(`builder inspect: ${info.stderr}`);
  const j = JSON.parse(info.stdout) as { metadata?: { images?: { image: string }[] } };
  const run = j.metadata?.images?.[0]?.image;
  if (!run) throw new Error(`no run image in ${info.stdout}`);
  runImage = `${reg.host}/base/run:1`;
  const push = await berth(["copy", run, `docker://${runImage}`], { home });
  if (push.code !== 0) throw new Error(`pushing the run image: ${push.stderr}`);
}, 1_800_000);

afterAll(async () => {
  await reg?.stop();
});

interface Built {
  group: unknown;
  metadata: { buildpacks?: unknown; processes?: unknown };
  label: { buildpacks?: unknown; processes?: { args?: unknown }[] };
  entrypoint: unknown;
}

async function configOf(image: string) {
  const r = await berth(["inspect", "--config", `docker://${image}`], { home });
  if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { config: { Entrypoint?: string[]; Labels?: Record<string, string> } };
}

async function viaBerth(name: string, app: string): Promise<Built> {
  const image = `${reg.host}/berth/${name}:1`;
  // The creator runs no image extensions: the builder's tiny-run extension is turned off for the comparison.
  const det = await berth(["detect", app, "--builder", BUILDER, "--json", ...NO_TINY], { home });
  if (det.code !== 0) throw new Error(`berth detect ${name}: ${det.stderr}`);
  const b = await berth(["build", app, "-t", image, "--publish", "--run-image", runImage, ...NO_TINY], {
    home,
  });
  if (b.code !== 0) throw new Error(`berth build ${name}: ${b.stderr}`);
  const cat = await berth(
    ["run", "--entrypoint", "/bin/cat", `docker://${image}`, "/layers/config/metadata.toml"],
    { home },
  );
  if (cat.code !== 0) throw new Error(`cat metadata.toml: ${cat.stderr}`);
  const c = await configOf(image);
  return {
    group: (JSON.parse(det.stdout) as { group: unknown }).group,
    metadata: parseTomlText(cat.stdout) as Built["metadata"],
    label: JSON.parse(c.config.Labels?.["io.buildpacks.build.metadata"] ?? "{}"),
    entrypoint: c.config.Entrypoint,
  };
}

/** The default builder's /cnb/order.toml without `[[order-extensions]]` (read from the builder image). */
async function builderOrderWithoutExtensions(): Promise<string> {
  const r = await berth(["run", "--entrypoint", "/bin/cat", BUILDER, "/cnb/order.toml"], { home });
  if (r.code !== 0) throw new Error(`cat /cnb/order.toml: ${r.stderr}`);
  const keep: string[] = [];
  let skipping = false;
  for (const line of r.stdout.split("\n")) {
    if (/^\s*\[\[?order-extensions/.test(line)) skipping = true;
    else if (/^\s*\[\[order\]\]/.test(line)) skipping = false;
    if (!skipping) keep.push(line);
  }
  return keep.join("\n");
}

async function viaReference(name: string, app: string): Promise<Built> {
  const image = `${reg.host}/reference/${name}:1`;
  const r = await runCreator({
    home,
    work: join(dir, `ref-${name}`),
    buildImage: BUILDER,
    builderCnb: true,
    app,
    buildpacks: [],
    // The builder's order without its order-extensions, which the creator refuses.
    order: await builderOrderWithoutExtensions(),
    replaceOrder: true,
    runImage,
    image,
  });
  if (r.exitCode !== 0) throw new Error(`the reference creator (${name}) failed:\n${plain(r.output)}`);
  const c = await configOf(image);
  return {
    group: parseTomlText(await layersFile(r.layers, "group.toml")),
    metadata: parseTomlText(await layersFile(r.layers, "config/metadata.toml")) as Built["metadata"],
    label: JSON.parse(c.config.Labels?.["io.buildpacks.build.metadata"] ?? "{}"),
    entrypoint: c.config.Entrypoint,
  };
}

describe("the example apps: the same group, processes and labels as the reference lifecycle gives them", () => {
  for (const name of EXAMPLES) {
    it(name, async () => {
      const app = await copyExample(name, join(dir, "apps"));
      if (name === "java-jar") {
        // The jar is built on this machine first (as the part 3 test does): javac and jar are required.
        expect(await has("javac"), "javac on PATH to build the java-jar example").toBe(true);
        expect(await has("jar"), "jar on PATH to build the java-jar example").toBe(true);
        await shell("./make-jar.sh", app);
      }
      const ours = await viaBerth(name, app);
      const ref = await viaReference(name, app);
      expect(ours.group, explain(`${name}: group`, ref.group, ours.group)).toEqual(ref.group);
      const md = (b: Built) => ({ buildpacks: b.metadata.buildpacks, processes: b.metadata.processes });
      expect(md(ours), explain(`${name}: metadata.toml`, md(ref), md(ours))).toEqual(md(ref));
      // The whole label but the launcher (berth's own or another build of the lifecycle's).
      const lb = (b: Built) => mask(b.label, ["launcher"]);
      expect(lb(ours), explain(`${name}: io.buildpacks.build.metadata`, lb(ref), lb(ours))).toEqual(lb(ref));
      expect(ours.entrypoint).toEqual(ref.entrypoint);
    }, 900_000);
  }
});
