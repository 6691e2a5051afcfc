// A build sandbox's root mounted by runc (the spec's first mount, `runtimeRoot` in src/runtime/sandbox.ts) against
// one berth mounts on the host (`mountRoot: "host"`: a mount and an umount process): `sh -c 'echo x > /f'` in
// a busybox image with /etc/passwd (the user is read either way), snapshots cached, the two interleaved in one
// process, N runs each. Prints the medians and the load. Run: node bench/sandbox-root.ts [N] [none|default].
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadRoot, selectImage } from "../src/oci/image.ts";
import { type NetworkMode, prepareSnapshots, runInSandbox } from "../src/runtime/index.ts";
import { openSource } from "../src/transport/open.ts";
import { parseImageArgument } from "../src/transport/parse.ts";
import { busyboxImage } from "../test/runtime/helpers.ts";
import { median } from "./lib.ts";

const n = Number(process.argv[2] ?? 21);
const network = (process.argv[3] ?? "none") as NetworkMode;
const dir = await mkdtemp(join(tmpdir(), "berth-bench-root-"));
const home = join(dir, "home");
try {
  await busyboxImage(join(dir, "layout"), "b");
  const opened = await openSource(parseImageArgument(`oci:${join(dir, "layout")}:b`), { home, env: {} });
  const image = await selectImage(await loadRoot(opened.source, opened.root));
  const chain = await prepareSnapshots({ home }, image);
  const modes = ["runtime", "host"] as const;
  const times = { runtime: [] as number[], host: [] as number[] };
  const loads: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const mode of i % 2 ? [...modes].reverse() : modes) {
      const upperDir = join(dir, `upper-${i}-${mode}`);
      const t = performance.now();
      const r = await runInSandbox({
        home,
        image,
        chain,
        upperDir,
        args: ["/bin/sh", "-c", "echo x > /f"],
        network,
        etcAlways: true,
        ...(mode === "host" ? { mountRoot: "host" as const } : {}),
      });
      times[mode].push(performance.now() - t);
      if (r.exitCode !== 0) throw new Error(`${mode}: exit ${r.exitCode}: ${r.stderrTail}`);
      await rm(upperDir, { recursive: true, force: true });
    }
    loads.push(loadavg()[0]!);
  }
  for (const mode of modes) {
    const xs = times[mode];
    console.log(
      `${mode === "runtime" ? "runc mounts the root" : "berth mounts the root"}: median ${median(xs).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)} ms (n=${n}, network ${network})`,
    );
  }
  console.log(`load (1 min): ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
