/** What `pack inspect` shows for an app image built with buildpacks, from its labels. */
import type { Image } from "../oci/image.ts";
import { type BuildMetadataLabel, LABEL, type LayersMetadata, parseJsonLabel } from "./files/labels.ts";

export interface CnbImageInfo {
  base: { reference: string; topLayer: string };
  runImages: { name: string; mirror: boolean }[];
  rebasable: boolean;
  stack: string | undefined;
  buildpacks: { id: string; version: string; homepage?: string }[];
  processes: {
    type: string;
    shell: string;
    command: string;
    args: string[];
    workDir: string;
    default: boolean;
  }[];
}

/** The CNB view of an image, or undefined when it carries no `io.buildpacks.lifecycle.metadata`. */
export function cnbImageInfo(image: Image, name: string): CnbImageInfo | undefined {
  const cfg = image.config?.config;
  const labels = cfg?.Labels ?? {};
  const md = parseJsonLabel<LayersMetadata>(labels[LABEL.lifecycle], LABEL.lifecycle, name);
  if (!md) return undefined;
  const bm = parseJsonLabel<BuildMetadataLabel>(labels[LABEL.build], LABEL.build, name);
  const entry = cfg?.Entrypoint?.[0] ?? "";
  const defaultType = entry.startsWith("/cnb/process/") ? entry.slice("/cnb/process/".length) : undefined;
  const run = md.runImage ?? { topLayer: "", reference: "" };
  const runImages = [
    ...(run.image ? [{ name: run.image, mirror: false }] : []),
    ...(run.mirrors ?? []).map((m) => ({ name: m, mirror: true })),
  ];
  return {
    base: { reference: run.reference ?? "", topLayer: run.topLayer ?? "" },
    runImages,
    rebasable: labels[LABEL.rebasable] !== "false",
    stack: labels[LABEL.stackId],
    buildpacks: (bm?.buildpacks ?? []).map((b) => ({
      id: b.id,
      version: b.version,
      ...(b.homepage ? { homepage: b.homepage } : {}),
    })),
    processes: (bm?.processes ?? []).map((p) => {
      const raw = p as unknown as Record<string, unknown>;
      const command = Array.isArray(p.command) ? p.command : [String(p.command ?? "")];
      return {
        type: p.type,
        shell: p.direct === false ? "bash" : "",
        command: command[0] ?? "",
        args: [...command.slice(1), ...(p.args ?? [])],
        workDir: String(raw["working-dir"] ?? cfg?.WorkingDir ?? ""),
        default: p.type === defaultType,
      };
    }),
  };
}

/** pack's human-readable block. */
export function formatCnbImageInfo(info: CnbImageInfo): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines: string[] = [];
  lines.push(`Stack: ${info.stack ?? ""}`, "", "Base Image:");
  if (info.base.reference) lines.push(`  Reference: ${info.base.reference}`);
  lines.push(`  Top Layer: ${info.base.topLayer}`, "", "Run Images:");
  for (const r of info.runImages) lines.push(`  ${r.name}${r.mirror ? "" : ""}`);
  if (info.runImages.length === 0) lines.push("  (none)");
  lines.push("", `Rebasable: ${info.rebasable}`, "", "Buildpacks:");
  lines.push(`  ${pad("ID", 40)} ${pad("VERSION", 16)} HOMEPAGE`);
  for (const b of info.buildpacks)
    lines.push(`  ${pad(b.id, 40)} ${pad(b.version, 16)} ${b.homepage ?? "-"}`);
  lines.push("", "Processes:");
  lines.push(`  ${pad("TYPE", 24)} ${pad("SHELL", 8)} ${pad("COMMAND", 24)} ${pad("ARGS", 24)} WORK DIR`);
  for (const p of info.processes) {
    lines.push(
      `  ${pad(`${p.type}${p.default ? " (default)" : ""}`, 24)} ${pad(p.shell, 8)} ${pad(p.command, 24)} ${pad(p.args.join(" "), 24)} ${p.workDir}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
