/**
 * Issue 3: build a layer from a real node_modules tree (berth append vs `tar | pigz` and `umoci insert`), at gzip
 * level 6 and 1 and with zstd, and extract it (berth applyLayer vs `tar -xzf`).
 */
import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TreeData } from "./data.ts";
import { type BenchResult, berthArgs, berthEnv, compare, fresh, ROOT, SCRATCH } from "./lib.ts";

const exec = promisify(execFile);

export async function layerBenchmarks(
  tree: TreeData,
  runs: number,
  log: (s: string) => void,
): Promise<BenchResult[]> {
  const out = join(SCRATCH, "layers");
  const home = join(out, "home");
  const layoutOut = join(out, "layout");
  const fileOut = join(out, "layer.out");
  const umociOut = join(out, "umoci");
  const what = `${tree.files} files, ${(tree.bytes / 1024 / 1024).toFixed(0)} MiB`;
  const results: BenchResult[] = [];
  const append =
    (...flags: string[]) =>
    () =>
      berthArgs("append", "scratch", tree.dir, "-t", `oci:${layoutOut}:latest`, ...flags);
  const shell = (script: string) => () => ["bash", "-o", "pipefail", "-c", script];
  const tarPipe = (compressor: string) => shell(`tar -cf - -C ${tree.dir} . | ${compressor} > ${fileOut}`);
  try {
    for (const level of [6, 1]) {
      log(`  gzip -${level} layer from node_modules`);
      const tools = [
        {
          name: `berth append (gzip -${level})`,
          before: () => fresh(layoutOut),
          command: append("--compression", "gzip", "--level", String(level)),
          env: berthEnv(home),
        },
        {
          name: `tar | pigz -p 2 -${level}`,
          peer: true,
          before: () => fresh(fileOut),
          command: tarPipe(`pigz -p 2 -${level}`),
        },
      ];
      if (level === 6) {
        tools.push({
          name: "umoci insert (its default gzip)",
          peer: false,
          before: async () => {
            await fresh(umociOut);
            await exec("umoci", ["init", "--layout", umociOut]);
            await exec("umoci", ["new", "--image", `${umociOut}:latest`]);
          },
          command: () => ["umoci", "insert", "--image", `${umociOut}:latest`, tree.dir, "/"],
        });
      }
      results.push({
        title: `Build a gzip -${level} layer from node_modules (${what})`,
        note:
          `berth: \`append scratch DIR -t oci:L:latest --level ${level}\` (walk, reproducible tar, parallel gzip, ` +
          `diffID and digest in one pass, then config and manifest); \`tar -cf - . | pigz -p 2 -${level} > F\` ` +
          "(no hashing, no image)" +
          (level === 6 ? "; `umoci insert` into a fresh layout (its own gzip, at its default level)." : "."),
        rows: await compare(tools, { runs, log }),
      });
    }

    log("  zstd layer from node_modules");
    results.push({
      title: `Build a zstd -3 layer from node_modules (${what})`,
      note: "berth `append --compression zstd` (level 3, Node's zlib zstd) vs `tar -cf - . | zstd -T2 -3`.",
      rows: await compare(
        [
          {
            name: "berth append (zstd -3)",
            before: () => fresh(layoutOut),
            command: append("--compression", "zstd", "--level", "3"),
            env: berthEnv(home),
          },
          {
            name: "tar | zstd -T2 -3",
            peer: true,
            before: () => fresh(fileOut),
            command: tarPipe("zstd -q -T2 -3"),
          },
        ],
        { runs, log },
      ),
    });

    log("  extract the gzip layer");
    await fresh(layoutOut);
    await exec(process.execPath, append("--compression", "gzip", "--level", "6")().slice(1), {
      env: { ...process.env, ...berthEnv(home) },
    });
    const blob = await largestBlob(layoutOut);
    const rootOut = join(out, "rootfs");
    results.push({
      title: `Extract the gzip -6 node_modules layer (${what})`,
      note: "berth `applyLayer` (confined, whiteout-aware; bench/apply-layer.ts) vs `tar -xzf` of the same blob into an empty folder, as root.",
      rows: await compare(
        [
          {
            name: "berth applyLayer",
            before: () => fresh(rootOut),
            command: () => [process.execPath, join(ROOT, "bench", "apply-layer.ts"), blob, rootOut],
          },
          {
            name: "tar -xzf",
            peer: true,
            before: () =>
              fresh(rootOut)
                .then(() => exec("mkdir", ["-p", rootOut]))
                .then(() => undefined),
            command: () => ["tar", "-xzf", blob, "-C", rootOut],
          },
        ],
        { runs, log },
      ),
    });
  } finally {
    await fresh(out);
  }
  return results;
}

async function largestBlob(layout: string): Promise<string> {
  const dir = join(layout, "blobs", "sha256");
  let best = { path: "", size: -1 };
  for (const name of await readdir(dir)) {
    const s = await stat(join(dir, name));
    if (s.size > best.size) best = { path: join(dir, name), size: s.size };
  }
  return best.path;
}
