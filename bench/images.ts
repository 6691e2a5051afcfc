/** Issue 2: copy the 1 GiB, 8-layer image between an OCI layout and a docker-archive, berth vs skopeo. */
import { join } from "node:path";
import type { ImageData } from "./data.ts";
import { type BenchResult, berthArgs, berthEnv, compare, fresh, SCRATCH } from "./lib.ts";

export async function imageBenchmarks(
  image: ImageData,
  runs: number,
  log: (s: string) => void,
): Promise<BenchResult[]> {
  const out = join(SCRATCH, "images");
  const home = join(out, "home");
  const results: BenchResult[] = [];
  const size = `${image.layers} layers × ${image.layerBytes / 1024 / 1024} MiB`;

  log("  OCI layout → docker-archive");
  const tarOut = join(out, "out.tar");
  results.push({
    title: `Copy OCI layout → docker-archive (${size})`,
    note:
      "`copy oci:L:latest docker-archive:F:bench:latest`: every gzip layer is read, verified, decompressed and " +
      "written uncompressed into a new `docker save` tar (both tools spool each layer to a temp file first, " +
      "since a tar header needs the size).",
    rows: await compare(
      [
        {
          name: "berth copy",
          before: () => fresh(tarOut),
          command: () =>
            berthArgs("copy", "-q", `oci:${image.layout}:latest`, `docker-archive:${tarOut}:bench:latest`),
          env: berthEnv(home),
        },
        {
          name: "skopeo copy",
          peer: true,
          before: () => fresh(tarOut),
          command: () => [
            "skopeo",
            "copy",
            "-q",
            `oci:${image.layout}:latest`,
            `docker-archive:${tarOut}:bench:latest`,
          ],
        },
      ],
      { runs, log },
    ),
  });
  await fresh(tarOut);

  log("  docker-archive → OCI layout");
  const layoutOut = join(out, "layout");
  results.push({
    title: `Copy docker-archive → OCI layout (${size})`,
    note:
      "`copy docker-archive:F oci:L:latest` from the archive skopeo wrote: every (uncompressed) layer is read " +
      "from the tar, verified and written as a blob of a new layout.",
    rows: await compare(
      [
        {
          name: "berth copy",
          before: () => fresh(layoutOut),
          command: () =>
            berthArgs("copy", "-q", `docker-archive:${image.archive}`, `oci:${layoutOut}:latest`),
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
            `docker-archive:${image.archive}`,
            `oci:${layoutOut}:latest`,
          ],
        },
      ],
      { runs, log },
    ),
  });
  await fresh(out);
  return results;
}
