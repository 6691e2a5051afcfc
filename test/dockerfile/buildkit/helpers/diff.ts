/**
 * The differences between berth's image and BuildKit's as lines of text, one per path, config field or history
 * entry that differs; an empty list means the two agree. Lines are stable (no times, no digests of whole
 * layers), so a known deviation can be written down as the exact lines it gives.
 */
import { isDeepStrictEqual } from "node:util";
import type { Entry, Flat } from "./flatten.ts";

const show = (e: Entry): string =>
  [
    e.type,
    e.mode,
    e.owner,
    e.size !== undefined ? `${e.size}B` : "",
    e.sha256 ?? "",
    e.target !== undefined ? `-> ${e.target}` : "",
    e.links ? `links=${e.links.join(",")}` : "",
  ]
    .filter(Boolean)
    .join(" ");

export function diffImages(berth: Flat, buildkit: Flat): string[] {
  const out: string[] = [];
  const paths = [...new Set([...berth.files.keys(), ...buildkit.files.keys()])].sort();
  for (const p of paths) {
    const a = berth.files.get(p);
    const b = buildkit.files.get(p);
    if (!b) out.push(`/${p}: only in berth (${show(a!)})`);
    else if (!a) out.push(`/${p}: only in BuildKit (${show(b)})`);
    else if (!isDeepStrictEqual(a, b)) out.push(`/${p}: berth ${show(a)}; BuildKit ${show(b)}`);
  }
  const keys = [...new Set([...Object.keys(berth.config), ...Object.keys(buildkit.config)])].sort();
  for (const k of keys)
    if (!isDeepStrictEqual(berth.config[k], buildkit.config[k]))
      out.push(
        `config ${k}: berth ${JSON.stringify(berth.config[k] ?? null)}; BuildKit ${JSON.stringify(buildkit.config[k] ?? null)}`,
      );
  const n = Math.max(berth.history.length, buildkit.history.length);
  for (let i = 0; i < n; i++) {
    const a = berth.history[i];
    const b = buildkit.history[i];
    const h = (x: typeof a) =>
      x ? `${JSON.stringify(x.created_by)}${x.empty_layer ? " (empty layer)" : ""}` : "none";
    if (!isDeepStrictEqual(a, b)) out.push(`history ${i}: berth ${h(a)}; BuildKit ${h(b)}`);
  }
  return out;
}
