/** Issue 4: push and pull the 1 GiB, 8-layer image to and from a local docker-registry, berth vs skopeo. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type RegistryHarness, startRegistry } from "../test/registry/helpers/registry.ts";
import type { ImageData } from "./data.ts";
import { type BenchResult, berthArgs, berthEnv, compare, fresh, SCRATCH } from "./lib.ts";

const exec = promisify(execFile);

export async function registryBenchmarks(
  image: ImageData,
  runs: number,
  log: (s: string) => void,
): Promise<BenchResult[]> {
  const out = join(SCRATCH, "registry");
  const home = join(out, "home");
  const size = `${image.layers} layers × ${image.layerBytes / 1024 / 1024} MiB`;
  const results: BenchResult[] = [];
  let registry: RegistryHarness | undefined;
  try {
    // Push: a fresh registry before every run, so that no blob is there yet and nothing can be mounted.
    log("  push OCI layout → registry");
    const restart = async () => {
      await registry?.stop();
      registry = await startRegistry();
    };
    const dest = (tool: string, run: number) => `docker://${registry!.host}/bench/${tool}-${run}:latest`;
    results.push({
      title: `Push OCI layout → registry (${size})`,
      note:
        "`copy oci:L:latest docker://127.0.0.1:PORT/bench/x:latest` into an empty docker-registry (Debian's " +
        "distribution, restarted with empty storage before each run): existence checks, then every blob uploaded.",
      rows: await compare(
        [
          {
            name: "berth copy",
            before: restart,
            command: (run) => berthArgs("copy", "-q", `oci:${image.layout}:latest`, dest("berth", run)),
            env: berthEnv(home),
          },
          {
            name: "skopeo copy",
            peer: true,
            before: restart,
            command: (run) => [
              "skopeo",
              "copy",
              "-q",
              "--dest-tls-verify=false",
              `oci:${image.layout}:latest`,
              dest("skopeo", run),
            ],
          },
        ],
        { runs, log },
      ),
    });

    log("  pull registry → OCI layout");
    await restart();
    const source = `docker://${registry!.host}/bench/source:latest`;
    await exec("skopeo", ["copy", "-q", "--dest-tls-verify=false", `oci:${image.layout}:latest`, source]);
    const layoutOut = join(out, "layout");
    results.push({
      title: `Pull registry → OCI layout (${size})`,
      note:
        "`copy docker://127.0.0.1:PORT/bench/source:latest oci:L:latest` into a new layout: manifest, config, " +
        "then every layer downloaded, verified and written.",
      rows: await compare(
        [
          {
            name: "berth copy",
            before: () => fresh(layoutOut),
            command: () => berthArgs("copy", "-q", source, `oci:${layoutOut}:latest`),
            env: berthEnv(home),
          },
          {
            name: "skopeo copy",
            peer: true,
            before: () => fresh(layoutOut),
            command: () => [
              "skopeo",
              "copy",
              "-q",
              "--src-tls-verify=false",
              source,
              `oci:${layoutOut}:latest`,
            ],
          },
        ],
        { runs, log },
      ),
    });
  } finally {
    await registry?.stop();
    await fresh(out);
  }
  return results;
}
