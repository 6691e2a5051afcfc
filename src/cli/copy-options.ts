/**
 * skopeo copy's flags beyond the registry ones (copy-sides.ts): `--multi-arch`, `--override-os/-arch/-variant`,
 * `-f/--format`, `--preserve-digests`, `--digestfile`, `--retry-times`/`--retry-delay`, `--remove-signatures`,
 * `--dest-compress-format`/`-level`, and the refusals of what berth does not do (signing, encryption, shared blob
 * directories, daemons, the dir: transport).
 */
import { type Command, Option } from "commander";
import { BerthError } from "../errors.ts";
import type { CompressTarget } from "../image/compress.ts";
import type { ManifestFormat } from "../oci/convert.ts";
import { hostPlatform, type Platform } from "../oci/platform.ts";
import { parseReference } from "../oci/reference.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { collect, platformOf } from "./flags.ts";

type Flags = Record<string, string | boolean | undefined>;

/** skopeo's flags that berth refuses, by the reason it gives (`<value>`: the flag takes one). */
const REFUSED: Record<string, readonly string[]> = {
  "berth does not sign images: sign the copy afterwards (skopeo standalone-sign, cosign)": [
    "--sign-by <value>",
    "--sign-by-sigstore <value>",
    "--sign-by-sigstore-private-key <value>",
    "--sign-passphrase-file <value>",
    "--sign-identity <value>",
  ],
  "berth does not encrypt or decrypt layers": [
    "--encryption-key <value>",
    "--encrypt-layer <value>",
    "--decryption-key <value>",
  ],
  "berth's OCI layouts keep their blobs inside the layout": [
    "--src-shared-blob-dir <value>",
    "--dest-shared-blob-dir <value>",
  ],
  "berth has no docker-daemon: transport (use docker-archive:)": [
    "--src-daemon-host <value>",
    "--dest-daemon-host <value>",
  ],
  "berth has no dir: transport": ["--dest-compress", "--dest-decompress"],
};

/** A flag's name and commander's key for it: `--sign-by <value>` → `--sign-by`, `signBy`. */
function flagKey(flag: string): [string, string] {
  const name = flag.replace(/ <value>$/, "");
  return [name, name.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase())];
}

/** Add skopeo copy's other flags to the copy command. */
export function addSkopeoOptions(command: Command): Command {
  command
    .option(
      "--multi-arch <how>",
      "system (this machine's image, or --platform's), all (as --all) or index-only",
    )
    .option("--override-os <os>", "the OS of the image to take from an index (as --platform)")
    .option("--override-arch <arch>", "the architecture of the image to take from an index (as --platform)")
    .option("--override-variant <variant>", "the variant of the image to take from an index (as --platform)")
    .option("-f, --format <type>", "manifest type of the destination: oci or v2s2 (v2s1 is refused)")
    .option(
      "--dest-compress-format <format>",
      "rewrite the layers in gzip or zstd (with --all: every image's)",
    )
    .option("--dest-compress-level <n>", "the level of --dest-compress-format (gzip 1-9, zstd 1-22)")
    .option("--preserve-digests", "refuse any change that would alter a digest")
    .option(
      "--additional-tag <name:tag>",
      "another tag of a docker-archive destination (repeatable)",
      collect,
    )
    .option("--digestfile <file>", "write the digest of the copied manifest (or index) to FILE")
    .option("--retry-times <n>", "retry each failing registry request up to N more times")
    .option("--retry-delay <duration>", "wait this long (a Go duration: 500ms, 2s) before the first retry")
    .option("--remove-signatures", "copy no signatures (berth never copies them)")
    .option(
      "--dest-oci-accept-uncompressed-layers",
      "keep uncompressed layers uncompressed (berth always does)",
    )
    .option("--dest-precompute-digests", "skip layers the registry has (berth always asks it first)");
  for (const flag of Object.values(REFUSED).flat()) command.addOption(new Option(flag).hideHelp());
  return command;
}

/** What the copy command takes from these flags. */
export interface SkopeoCopyOptions {
  all: boolean;
  /** `--multi-arch index-only`: the index without its images. */
  indexOnly: boolean;
  platform: Platform | undefined;
  format: ManifestFormat | undefined;
  preserveDigests: boolean;
  digestFile: string | undefined;
  additionalTags: string[] | undefined;
  retry: { attempts?: number; baseDelay?: number } | undefined;
  compress: CompressTarget | undefined;
}

/** A Go duration (`1h2m3.5s`, `500ms`) in milliseconds. */
export function goDuration(text: string, flag: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const parts = [...text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
  if (text === "0") return 0;
  if (!parts.length || parts.map((p) => p[0]).join("") !== text)
    throw new BerthError(
      "USAGE",
      `${flag} takes a duration such as 500ms or 2s, not ${JSON.stringify(text)}`,
    );
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
}

function platformFlags(flags: Flags): Pick<SkopeoCopyOptions, "all" | "indexOnly" | "platform"> {
  const multi = flags.multiArch as string | undefined;
  if (multi !== undefined && !["system", "all", "index-only"].includes(multi))
    throw new BerthError(
      "USAGE",
      `--multi-arch takes system, all or index-only, not ${JSON.stringify(multi)}`,
    );
  const indexOnly = multi === "index-only";
  const all = flags.all === true || multi === "all" || indexOnly;
  const override = ["overrideOs", "overrideArch", "overrideVariant"].some((k) => flags[k] !== undefined);
  if (override && flags.platform !== undefined)
    throw new BerthError(
      "USAGE",
      "--override-os/--override-arch/--override-variant and --platform cannot be used together",
    );
  let platform = platformOf(flags.platform as string | undefined);
  if (override) {
    const host = hostPlatform();
    const variant = flags.overrideVariant as string | undefined;
    platform = {
      os: (flags.overrideOs as string | undefined) ?? host.os,
      architecture: (flags.overrideArch as string | undefined) ?? host.architecture,
      ...(variant ? { variant } : {}),
    };
  }
  if (all && platform)
    throw new BerthError("USAGE", "--all (or --multi-arch all) and --platform cannot be used together");
  return { all, indexOnly, platform };
}

function formatFlag(value: string | undefined, dst: ImageArgument): ManifestFormat | undefined {
  if (value === undefined) return undefined;
  if (value === "v2s1")
    throw new BerthError(
      "USAGE",
      "--format v2s1 is refused: Docker's schema 1 manifests are deprecated and berth writes none",
      {
        hint: "use --format v2s2 or oci",
      },
    );
  if (value !== "oci" && value !== "v2s2")
    throw new BerthError("USAGE", `--format takes oci, v2s2 or v2s1, not ${JSON.stringify(value)}`);
  if (value === "oci" && dst.transport === "docker-archive")
    throw new BerthError(
      "USAGE",
      "--format oci cannot be written to a docker-archive, which holds Docker's format only",
    );
  return value;
}

function retryFlags(flags: Flags): SkopeoCopyOptions["retry"] {
  const times = flags.retryTimes as string | undefined;
  const delay = flags.retryDelay as string | undefined;
  if (times === undefined && delay === undefined) return undefined;
  const retry: NonNullable<SkopeoCopyOptions["retry"]> = {};
  if (times !== undefined) {
    if (!/^\d+$/.test(times))
      throw new BerthError("USAGE", `--retry-times takes a whole number, not ${JSON.stringify(times)}`);
    retry.attempts = Number(times) + 1;
  }
  if (delay !== undefined) retry.baseDelay = goDuration(delay, "--retry-delay");
  return retry;
}

/** `--additional-tag`: docker-archive destinations only (skopeo ignores it elsewhere; berth says so). */
function additionalTags(tags: string[] | undefined, dst: ImageArgument): string[] | undefined {
  if (!tags?.length) return undefined;
  if (dst.transport !== "docker-archive")
    throw new BerthError(
      "USAGE",
      `--additional-tag names tags of a docker-archive destination, and ${dst.text} is none`,
    );
  for (const t of tags) {
    try {
      parseReference(t);
    } catch {
      throw new BerthError("USAGE", `--additional-tag ${JSON.stringify(t)} is not an image name with a tag`);
    }
  }
  return tags;
}

function compressFlags(flags: Flags): CompressTarget | undefined {
  const format = flags.destCompressFormat as string | undefined;
  const level = flags.destCompressLevel as string | undefined;
  if (format === undefined) {
    if (level !== undefined)
      throw new BerthError("USAGE", "--dest-compress-level needs --dest-compress-format");
    return undefined;
  }
  if (format !== "gzip" && format !== "zstd")
    throw new BerthError("USAGE", `--dest-compress-format takes gzip or zstd, not ${JSON.stringify(format)}`);
  const max = format === "gzip" ? 9 : 22;
  if (level !== undefined && (!/^\d+$/.test(level) || Number(level) < 1 || Number(level) > max))
    throw new BerthError(
      "USAGE",
      `--dest-compress-level for ${format} takes 1 to ${max}, not ${JSON.stringify(level)}`,
    );
  if (flags.preserveDigests === true)
    throw new BerthError(
      "USAGE",
      "--dest-compress-format rewrites layers, so it cannot be used with --preserve-digests",
    );
  return { compression: format, ...(level === undefined ? {} : { level: Number(level) }) };
}

/** Read skopeo's flags; refuse the ones berth does not do, naming the flag. */
export function skopeoCopyOptions(flags: Flags, dst: ImageArgument): SkopeoCopyOptions {
  for (const [why, refused] of Object.entries(REFUSED)) {
    for (const [flag, key] of refused.map(flagKey))
      if (flags[key] !== undefined) throw new BerthError("USAGE", `${flag} is not supported: ${why}`);
  }
  const picked = platformFlags(flags);
  if (picked.indexOnly && (dst.transport === "store" || dst.transport === "docker-archive"))
    throw new BerthError(
      "USAGE",
      `--multi-arch index-only copies no image, and ${dst.text} ${dst.transport === "store" ? "(the local store) keeps whole images only" : "is a docker-archive, which holds no index"}`,
      { hint: "copy the index alone to an oci: or oci-archive: destination, or every image with --all" },
    );
  return {
    ...picked,
    format: formatFlag(flags.format as string | undefined, dst),
    preserveDigests: flags.preserveDigests === true,
    digestFile: flags.digestfile as string | undefined,
    additionalTags: additionalTags(flags.additionalTag as unknown as string[] | undefined, dst),
    retry: retryFlags(flags),
    compress: compressFlags(flags),
  };
}
