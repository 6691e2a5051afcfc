/**
 * The app layers (lc:layers/slices.go): one layer per slice of `launch.toml`, in order, then the rest of the app
 * directory; worded "Application Slice: N", or "Application Layer" when there are no slices.
 */

import { posix } from "node:path";
import { BerthError } from "../../../errors.ts";
import { comparePaths, dirName } from "../../../layer/entry.ts";
import type { PlannedEntry } from "../../../layer/walk.ts";
import { planLayer } from "../../../layer/walk.ts";
import { compileGlob, type Glob } from "../../../util/glob.ts";
import { statFingerprint } from "../../cache/fingerprint.ts";
import type { Slice } from "../../files/launch.ts";
import { addLayer, type ExportContext } from "./context.ts";

/** Add the app layers; returns their diffIDs (`io.buildpacks.lifecycle.metadata` `app`). */
export async function appLayers(x: ExportContext, slices: readonly Slice[]): Promise<{ sha: string }[]> {
  const { appDir } = x.i;
  const salt = `${x.planSalt}:${JSON.stringify(slices)}`;
  const fp = await statFingerprint([{ source: appDir, dest: x.appPath }], salt);
  let parts: PlannedEntry[][] | undefined;
  const partsOf = async () => {
    parts ??= sliceEntries(await planLayer([{ source: appDir, dest: x.appPath }], x.plan), x.appPath, slices);
    return parts;
  };
  const count = slices.length + 1;
  const shas: { sha: string }[] = [];
  const prevApp = new Set((x.i.previous?.metadata.app ?? []).map((a) => a.sha));
  let reused = 0;
  for (let k = 0; k < count; k++) {
    const o = await x.maker.make(
      {
        name: k < slices.length ? `slice-${k + 1}` : "app",
        fingerprint: { key: `${fp}:${k}` },
        entries: async () => (await partsOf())[k]!,
        image: true,
        cache: false,
        likelyUnchanged: prevApp.size > 0,
      },
      true,
    );
    if (o.reused) reused++;
    addLayer(x, o.layer, count === 1 ? "Application Layer" : `Application Slice: ${k + 1}`);
    shas.push({ sha: o.diffId });
  }
  if (reused > 0) x.i.log?.(`Reused ${reused}/${count} app layer(s)`);
  if (count - reused > 0) x.i.log?.(`Added ${count - reused}/${count} app layer(s)`);
  return shas;
}

/**
 * A slice's path: Go's filepath.Match of the cleaned path over each path relative to the app, as
 * lc:layers/slices.go glob has it.
 */
function slicePattern(path: string): Glob {
  return compileGlob(
    // filepath.Clean: posix.normalize without its trailing /
    posix.normalize(path).replace(/(.)\/$/, "$1"),
    (why) =>
      new BerthError(
        "CNB_EXPORT_FAILED",
        `launch.toml: slice path ${JSON.stringify(path)} is not a valid pattern: ${why}`,
        {
          hint: "slice paths take Go's filepath.Match wildcards: *, ?, [a-z], [^a-z], and \\ before a character to match it literally",
        },
      ),
  );
}

/**
 * Split the app's entries into slices and the rest: a slice holds every entry matching one of its patterns
 * (a matched directory brings everything below it) that no earlier slice took, plus the directories above
 * them; the rest holds all the other entries and every directory.
 */
export function sliceEntries(
  all: readonly PlannedEntry[],
  appPath: string,
  slices: readonly { paths: string[] }[],
): PlannedEntry[][] {
  const base = appPath.replace(/^\/+|\/+$/g, "");
  const rel = (p: string) =>
    p === base ? "" : p.startsWith(`${base}/`) ? p.slice(base.length + 1) : undefined;
  const taken = new Set<string>();
  const byPath = new Map(all.map((e) => [e.header.path, e]));
  const out: PlannedEntry[][] = [];
  for (const s of slices) {
    const res = s.paths.map(slicePattern);
    const picked = new Set<string>();
    const matchedDirs: string[] = [];
    for (const e of all) {
      const r = rel(e.header.path);
      if (r === undefined || r === "" || taken.has(e.header.path)) continue;
      const inMatchedDir = matchedDirs.some((d) => r.startsWith(`${d}/`));
      if (inMatchedDir || res.some((re) => re.test(r))) {
        picked.add(e.header.path);
        if (e.header.type === "dir") matchedDirs.push(r);
      }
    }
    const withParents = new Set<string>();
    for (const p of picked) {
      if (byPath.get(p)?.header.type !== "dir") taken.add(p);
      withParents.add(p);
      for (let d = dirName(p); d !== ""; d = dirName(d)) withParents.add(d);
    }
    out.push(
      [...withParents]
        .map((p) => byPath.get(p))
        .filter((e): e is PlannedEntry => e !== undefined)
        .sort((a, b) => comparePaths(a.header.path, b.header.path)),
    );
  }
  out.push(all.filter((e) => e.header.type === "dir" || !taken.has(e.header.path)));
  return out;
}
