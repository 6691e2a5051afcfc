/** The model of one layer entry, shared by the writer, the reader, apply, diff and flatten. */

export type EntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface EntryHeader {
  /** Path inside the image, normalised: no leading `/` or `./`, no trailing `/`, never empty. */
  path: string;
  type: EntryType;
  /** Permission bits and setuid/setgid/sticky (masked to 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content; 0 for everything but files. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target, or the image path a hardlink points to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** Extended attributes (`security.capability`, …), written as `SCHILY.xattr.*` PAX records. */
  xattrs?: Record<string, Buffer>;
}

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

export function baseName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? path : path.slice(i + 1);
}

export function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Join an image directory ("" for the root) and a name. */
export function joinPath(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** Bytewise comparison of two paths, the order entries are written in. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
