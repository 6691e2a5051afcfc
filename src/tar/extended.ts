/**
 * What a tar entry is once the headers before it are applied: the typeflags, PAX extended headers (`x` for the
 * next entry, `g` for every entry after it) and GNU long names (`L`, `K`). The streaming layer reader and the
 * archive index read the blocks their own way (a stream, a seekable file) and share this for their meaning;
 * what to refuse (a malformed PAX record, an unknown type) is each caller's policy.
 */
import { decodeLongName } from "./gnu.ts";
import { type DecodedHeader, headerPath } from "./header.ts";
import { decodePax, type PaxRecords } from "./pax.ts";

/** What an entry is, by its typeflag (`7`, contiguous file, is a file). */
export type TarType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

/** A header whose data describes the entry after it (or, `paxGlobal`, every entry after it). */
export type MetaType = "pax" | "paxGlobal" | "longName" | "longLink";

const TYPEFLAGS: Record<string, TarType | MetaType> = {
  "0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
  x: "pax",
  g: "paxGlobal",
  L: "longName",
  K: "longLink",
};

/** The meaning of a typeflag; undefined for those berth does not know (GNU's `S` sparse, `V` volume label…). */
export function typeOf(typeflag: string): TarType | MetaType | undefined {
  return TYPEFLAGS[typeflag];
}

export function isMeta(t: TarType | MetaType): t is MetaType {
  return t === "pax" || t === "paxGlobal" || t === "longName" || t === "longLink";
}

/** An entry's names and PAX records, its extended headers applied. */
export interface Resolved {
  /** The PAX `path`, else the GNU long name, else the header's prefix and name. */
  path: string;
  /** The PAX `linkpath`, else the GNU long link name, else the header's linkname. */
  linkname: string;
  /** The global records overridden by the entry's own. */
  pax: PaxRecords;
  /** The bytes of data after the header (the PAX `size`, else the header's), or why the PAX size is not valid. */
  dataSize: number | string;
}

/** The extended headers read so far, waiting for the entry they describe. */
export class ExtendedHeaders {
  #global: PaxRecords = new Map();
  #local: PaxRecords | undefined;
  #longName: string | undefined;
  #longLink: string | undefined;

  /**
   * Take the data of a meta header. Returns false when its PAX records are malformed: the records before the
   * fault are kept, and the caller decides whether to refuse the archive.
   */
  add(type: MetaType, data: Buffer): boolean {
    switch (type) {
      case "longName":
        this.#longName = decodeLongName(data);
        return true;
      case "longLink":
        this.#longLink = decodeLongName(data);
        return true;
      case "pax":
      case "paxGlobal": {
        const { records, malformed } = decodePax(data);
        records.delete("");
        if (type === "pax") this.#local = records;
        else for (const [k, v] of records) this.#global.set(k, v);
        return !malformed;
      }
    }
  }

  /** Whether an entry-specific extended header waits for its entry (an archive must not end there). */
  pending(): boolean {
    return this.#local !== undefined || this.#longName !== undefined || this.#longLink !== undefined;
  }

  /** The name the waiting headers give the next entry, for messages; undefined when they give none. */
  pendingName(): string | undefined {
    return this.#local?.get("path")?.toString("utf8") ?? this.#longName;
  }

  /** Apply the headers to the entry `h` names; the entry-specific ones are then used up. */
  resolve(h: DecodedHeader): Resolved {
    const pax = this.#local ? new Map([...this.#global, ...this.#local]) : this.#global;
    const path = pax.get("path")?.toString("utf8") ?? this.#longName ?? headerPath(h);
    const linkname = pax.get("linkpath")?.toString("utf8") ?? this.#longLink ?? h.linkname;
    this.#local = undefined;
    this.#longName = undefined;
    this.#longLink = undefined;
    return { path, linkname, pax, dataSize: paxNumber(pax, "size") ?? h.size };
  }
}

/**
 * A numeric PAX record (`size`, `uid`, `mtime`…): its value, undefined when absent, or a sentence saying why it
 * is not valid. Only the times may have a fraction.
 */
export function paxNumber(records: PaxRecords, key: string): number | string | undefined {
  const v = records.get(key);
  if (v === undefined) return undefined;
  const s = v.toString("latin1");
  const n = Number(s);
  const fraction = key === "mtime" || key === "atime" || key === "ctime";
  if (s === "" || !Number.isFinite(n) || n < 0 || !(fraction || Number.isSafeInteger(n))) {
    return `PAX ${key} ${JSON.stringify(s)} is not a ${fraction ? "" : "whole "}number`;
  }
  return n;
}
