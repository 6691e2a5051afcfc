/**
 * The app copy buildpacks work on, kept per image under the CNB cache and synced from the source each build:
 * only files whose type, size, mode or mtime changed are copied (mtimes kept), files gone from the source are
 * removed, and owners set once. Unchanged files keep their inodes, so the app layer's fingerprint is the
 * same and export neither tars nor compresses an unchanged app.
 */
import type { Stats } from "node:fs";
import {
  chmod,
  copyFile,
  lchown,
  lstat,
  mkdir,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
} from "node:fs/promises";
import { join } from "node:path";

export interface SyncOptions {
  uid?: number;
  gid?: number;
  /**
   * Which paths (relative to the source, `/`-separated) to copy: "skip" leaves one out (a directory with all
   * below it), "keep" copies it, "descend" copies a directory only if something below it is kept.
   */
  filter?: { decide(path: string, isDir: boolean): "skip" | "keep" | "descend" } | undefined;
}

export async function syncTree(src: string, dst: string, o: SyncOptions = {}): Promise<{ copied: number }> {
  const stats = { copied: 0 };
  await mkdir(dst, { recursive: true });
  // The app folder itself belongs to the CNB user too (buildpacks create and remove entries in it).
  await own(dst, await lstat(dst), o);
  await syncDir(src, dst, "", o, stats);
  return stats;
}

async function own(path: string, st: Stats | undefined, o: SyncOptions): Promise<void> {
  if (o.uid === undefined || o.gid === undefined) return;
  if (st && st.uid === o.uid && st.gid === o.gid) return;
  await lchown(path, o.uid, o.gid);
}

/** Sync one directory; returns how many entries it kept. */
async function syncDir(
  src: string,
  dst: string,
  rel: string,
  o: SyncOptions,
  stats: { copied: number },
): Promise<number> {
  const names = await readdir(src);
  const keep = new Set<string>();
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    const s = join(src, n);
    const d = join(dst, n);
    const sst = await lstat(s);
    const decision = o.filter?.decide(r, sst.isDirectory()) ?? "keep";
    if (decision === "skip") continue;
    keep.add(n);
    const dst0 = await lstat(d).catch(() => undefined);
    if (sst.isDirectory()) {
      if (dst0 && !dst0.isDirectory()) await rm(d, { recursive: true, force: true });
      if (!dst0?.isDirectory()) await mkdir(d);
      const now = await lstat(d);
      if ((now.mode & 0o7777) !== (sst.mode & 0o7777)) await chmod(d, sst.mode & 0o7777);
      await own(d, now, o);
      const kept = await syncDir(s, d, r, o, stats);
      if (decision === "descend" && kept === 0) {
        keep.delete(n);
        await rm(d, { recursive: true, force: true });
      }
    } else if (sst.isSymbolicLink()) {
      const target = await readlink(s);
      if (dst0?.isSymbolicLink() && (await readlink(d)) === target) {
        await own(d, dst0, o);
        continue;
      }
      await rm(d, { recursive: true, force: true });
      await symlink(target, d);
      await own(d, undefined, o);
      stats.copied++;
    } else if (sst.isFile()) {
      const same =
        dst0?.isFile() &&
        dst0.size === sst.size &&
        // utimes below sets the stat's Date, whole milliseconds rounded (…457.95 → …458), and seconds as a
        // double may land a nanosecond under it: equal within a millisecond, or files would be copied again.
        Math.abs(dst0.mtimeMs - sst.mtime.getTime()) < 1 &&
        (dst0.mode & 0o7777) === (sst.mode & 0o7777);
      if (same) {
        await own(d, dst0, o);
        continue;
      }
      await rm(d, { recursive: true, force: true });
      await copyFile(s, d);
      await chmod(d, sst.mode & 0o7777);
      await utimes(d, sst.atime, sst.mtime);
      await own(d, undefined, o);
      stats.copied++;
    }
  }
  for (const n of await readdir(dst)) {
    if (!keep.has(n)) await rm(join(dst, n), { recursive: true, force: true });
  }
  return keep.size;
}
