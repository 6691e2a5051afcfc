/** GNU tar extensions: `L` (long name) and `K` (long link name) entries, whose data is the name. */

export const GNU_LONG_NAME = "L";
export const GNU_LONG_LINK = "K";

/** The name an `L` or `K` entry carries (NUL-terminated, often padded with NULs). */
export function decodeLongName(data: Buffer): string {
  return data.toString("utf8").replace(/\0+$/, "");
}
