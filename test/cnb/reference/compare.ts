/**
 * Comparing what berth made with what the reference lifecycle made: TOML files and JSON labels field by field,
 * with the fields that must differ (digests, timestamps, the launcher's own version) masked, and a diff that
 * names every path that differs.
 */
import { parse } from "smol-toml";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path where a and b differ, as `path: reference … berth …` lines. */
function diffValues(reference: unknown, berth: unknown, path = "$"): string[] {
  if (Object.is(reference, berth)) return [];
  const ra = Array.isArray(reference);
  const ba = Array.isArray(berth);
  if (ra && ba) {
    const out: string[] = [];
    const r = reference as unknown[];
    const b = berth as unknown[];
    for (let k = 0; k < Math.max(r.length, b.length); k++)
      out.push(...diffValues(r[k], b[k], `${path}[${k}]`));
    return out;
  }
  const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObj(reference) && isObj(berth)) {
    const r = reference as Record<string, unknown>;
    const b = berth as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(r), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffValues(r[k], b[k], `${path}.${k}`));
  }
  return [`${path}: reference ${JSON.stringify(reference)}, berth ${JSON.stringify(berth)}`];
}

/** A copy of `v` with the values at the given keys (anywhere) replaced by "<masked>" when present. */
export function mask(v: unknown, keys: readonly string[]): unknown {
  if (Array.isArray(v)) return v.map((x) => mask(x, keys));
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = keys.includes(k) ? "<masked>" : mask(x, keys);
    return out;
  }
  return v;
}

export function parseTomlText(text: string): unknown {
  return text === "" ? undefined : parse(text);
}

/** Assertion text: empty when equal, else the reference and berth values and each differing path. */
export function explain(what: string, reference: unknown, berth: unknown): string {
  const d = diffValues(reference, berth);
  return d.length === 0 ? "" : `${what} differs from the reference lifecycle's:\n  ${d.join("\n  ")}`;
}

/** Strip ANSI colour codes (the reference lifecycle colours its ERROR/Warning prefixes). */
export function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/**
 * `tar -tv` of the layer with this diffID in a registry image (auth-less test registry), one line per entry with
 * numeric owners and full times, so that two layers whose digests differ show where.
 */
export async function layerListing(registryUrl: string, image: string, diffId: string): Promise<string[]> {
  const slash = image.indexOf("/");
  const [repo, tag] = image.slice(slash + 1).split(":") as [string, string];
  const accept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
  const manifest = (await (
    await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, { headers: { Accept: accept } })
  ).json()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = (await (
    await fetch(`${registryUrl}/v2/${repo}/blobs/${manifest.config.digest}`)
  ).json()) as {
    rootfs: { diff_ids: string[] };
  };
  const k = config.rootfs.diff_ids.indexOf(diffId);
  if (k < 0) return [`(no layer ${diffId})`];
  const blob = Buffer.from(
    await (await fetch(`${registryUrl}/v2/${repo}/blobs/${manifest.layers[k]!.digest}`)).arrayBuffer(),
  );
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync("tar", ["--numeric-owner", "--full-time", "-tvzf", "-"], { input: blob });
  return out.toString("utf8").trimEnd().split("\n");
}
