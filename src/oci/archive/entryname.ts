import { BerthError } from "../../errors.ts";

/**
 * Normalise a tar entry name to a clean relative path (`./a//b/` → `a/b`), refusing names that climb out of the
 * archive with `..`. Returns "" for the archive root (`./`). A leading `/` names the archive's root, as GNU tar
 * and containers/image read it: pack writes its buildpackage `.cnb` files with `/index.json`, `/blobs/…`.
 * Names here only index the archive; nothing is written to the host by them.
 */
export function normalizeEntryName(raw: string, archive: string): string {
  const out: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) throw unsafe(raw, archive, "points outside the archive");
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join("/");
}

/** Resolve a symlink's target relative to the folder of the link, staying inside the archive. */
export function resolveLinkTarget(linkName: string, target: string, archive: string): string {
  if (target.startsWith("/")) {
    throw unsafe(linkName, archive, `is a symlink to the absolute path ${JSON.stringify(target)}`);
  }
  const dir = linkName.includes("/") ? linkName.slice(0, linkName.lastIndexOf("/")) : "";
  const joined = dir === "" ? target : `${dir}/${target}`;
  try {
    return normalizeEntryName(joined, archive);
  } catch {
    throw unsafe(linkName, archive, `is a symlink to ${JSON.stringify(target)}, outside the archive`);
  }
}

function unsafe(entry: string, archive: string, why: string): BerthError {
  return new BerthError("ARCHIVE_INVALID", `archive ${archive}: entry ${JSON.stringify(entry)} ${why}`, {
    details: { archive, entry },
    hint: "the archive may be malicious; berth refuses entries that escape it",
  });
}
