/**
 * berth's launcher, prebuilt per architecture into DIR/<arch> (with the hash of the source it was built from in
 * DIR/source.sha256), so that a build step needs no compiler: amd64 with the host's gcc on amd64
 * (x86_64-linux-gnu-gcc elsewhere), arm64 with aarch64-linux-gnu-gcc; each only when present.
 * scripts/build.ts (dist/launcher) and scripts/executable.ts (the executable's assets) use it.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compileLauncher, launcherSourceHash, launcherSourcePath } from "../../src/cnb/launch/index.ts";

export async function prebuildLaunchers(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const compilers: [string, string[]][] = [
    ["amd64", process.arch === "x64" ? ["gcc", "x86_64-linux-gnu-gcc"] : ["x86_64-linux-gnu-gcc"]],
    ["arm64", process.arch === "arm64" ? ["gcc", "aarch64-linux-gnu-gcc"] : ["aarch64-linux-gnu-gcc"]],
  ];
  const built: string[] = [];
  for (const [arch, ccs] of compilers) {
    for (const cc of ccs) {
      try {
        await compileLauncher(cc, join(dir, arch), process.env);
        built.push(arch);
        break;
      } catch {
        // not installed, or no static libc for it: the next compiler, else none for this architecture
      }
    }
  }
  await writeFile(
    join(dir, "source.sha256"),
    `${launcherSourceHash(await readFile(launcherSourcePath()))}\n`,
  );
  return built;
}
