/**
 * The entry of berth's single executable (a Node single executable application, scripts/executable.ts). The
 * files berth reads at run time (builders/, launcher.c, the prebuilt launchers) are the executable's assets,
 * listed in `files.json`; they are unpacked on first use into `$BERTH_HOME/cache/executable-<digest>/` (one
 * folder per set of files, renamed into place whole), which is then berth's package folder. undici is bundled
 * in, loaded on first use as from node_modules.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { getAsset, getRawAsset } from "node:sea";
import type { Undici } from "../registry/http.ts";
import { useUndici } from "../registry/http.ts";
import { usePackageRoot } from "../util/package.ts";
import { berthHome } from "./env.ts";
import { run } from "./main.ts";

/** The asset listing the others (scripts/executable.ts writes it): the digest of them all, each one's path (its key) and mode. */
const FILES_ASSET = "files.json";

export interface ExecutableFiles {
  digest: string;
  files: { path: string; mode: number }[];
}

function unpack(home: string): string {
  const list = JSON.parse(getAsset(FILES_ASSET, "utf8")) as ExecutableFiles;
  const cache = join(home, "cache");
  const dir = join(cache, `executable-${list.digest.slice(0, 16)}`);
  if (existsSync(dir)) return dir;
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const f of list.files) {
    const path = join(tmp, f.path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, new Uint8Array(getRawAsset(f.path)));
    chmodSync(path, f.mode);
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // another berth unpacked the same files first
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw err;
  }
  return dir;
}

usePackageRoot(() => unpack(berthHome(process.env)));
useUndici(() => ({
  Agent: require("undici/lib/dispatcher/agent.js") as Undici["Agent"],
  request: require("undici/lib/api/api-request.js") as Undici["request"],
}));
void run();
