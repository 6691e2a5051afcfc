/**
 * Files shipped with berth (builders/, the launcher's C source), found from wherever this code runs: the
 * TypeScript sources, tsc's dist/ or the bundled CLI in dist/bundle/; in berth's single executable, the
 * folder its entry (cli/executable.ts) unpacks them into, given with `usePackageRoot`.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BerthError } from "../errors.ts";

let root: string | undefined;
let provider: (() => string) | undefined;

/** Where berth's files are, when not beside this code: called once, on first use. */
export function usePackageRoot(find: () => string): void {
  root = undefined;
  provider = find;
}

/** The berth package's folder: the nearest parent of this module holding berth's package.json. */
function packageRoot(): string {
  if (root) return root;
  if (provider) {
    root = provider();
    return root;
  }
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      if (
        (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown }).name === "berth"
      ) {
        root = dir;
        return dir;
      }
    } catch {
      // no package.json here, or not berth's
    }
    if (dirname(dir) === dir) {
      throw new BerthError("INTERNAL", `berth's package.json is not in any parent of ${start}`);
    }
  }
}

/** A path inside the berth package. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
