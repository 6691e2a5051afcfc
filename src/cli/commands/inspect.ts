import type { Command } from "commander";
import { cnbImageInfo, formatCnbImageInfo } from "../../cnb/index.ts";
import { BerthError } from "../../errors.ts";
import { type Image, loadRoot, type Root, selectImage } from "../../oci/image.ts";
import { formatPlatform, parsePlatform } from "../../oci/platform.ts";
import { openSource } from "../../transport/open.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { formatBytes, printJson, table } from "../output.ts";

export function imageSummary(image: Image, name?: string) {
  const config = image.config;
  const c = config?.config ?? {};
  const layers = image.manifest.layers.map((l, i) => ({
    Digest: l.digest,
    Size: l.size,
    MediaType: l.mediaType,
    DiffID: config?.rootfs.diff_ids[i],
  }));
  return {
    ...(name ? { Name: name } : {}),
    Digest: image.digest,
    MediaType: image.mediaType,
    ConfigDigest: image.manifest.config.digest,
    ConfigMediaType: image.manifest.config.mediaType,
    Created: config?.created,
    Architecture: config?.architecture,
    Os: config?.os,
    ...(config?.variant ? { Variant: config.variant } : {}),
    Size: image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0),
    Layers: layers,
    Env: c.Env ?? [],
    Entrypoint: c.Entrypoint ?? null,
    Cmd: c.Cmd ?? null,
    WorkingDir: c.WorkingDir ?? "",
    User: c.User ?? "",
    ExposedPorts: Object.keys(c.ExposedPorts ?? {}),
    Labels: c.Labels ?? {},
    Annotations: image.manifest.annotations ?? {},
  };
}

function indexSummary(root: Root & { kind: "index" }) {
  return {
    Digest: root.digest,
    MediaType: root.mediaType,
    Manifests: root.index.manifests.map((m) => ({
      Digest: m.digest,
      MediaType: m.mediaType,
      Size: m.size,
      Platform: m.platform ? formatPlatform(m.platform) : undefined,
    })),
    Annotations: root.index.annotations ?? {},
  };
}

function humanImage(s: ReturnType<typeof imageSummary>): string {
  const lines = [
    ...(s.Name ? [`Name:        ${s.Name}`] : []),
    `Digest:      ${s.Digest}`,
    `Media type:  ${s.MediaType}`,
    `Platform:    ${[s.Os, s.Architecture, s.Variant].filter(Boolean).join("/")}`,
    `Created:     ${s.Created ?? "unknown"}`,
    `Size:        ${formatBytes(s.Size)} (${s.Size} bytes)`,
    `Entrypoint:  ${JSON.stringify(s.Entrypoint)}`,
    `Cmd:         ${JSON.stringify(s.Cmd)}`,
  ];
  if (s.WorkingDir) lines.push(`WorkingDir:  ${s.WorkingDir}`);
  if (s.User) lines.push(`User:        ${s.User}`);
  if (s.ExposedPorts.length) lines.push(`Ports:       ${s.ExposedPorts.join(", ")}`);
  lines.push("Env:");
  for (const e of s.Env) lines.push(`  ${e}`);
  const labels = Object.entries(s.Labels);
  if (labels.length) {
    lines.push("Labels:");
    for (const [k, v] of labels) lines.push(`  ${k}=${v.length > 120 ? `${v.slice(0, 117)}...` : v}`);
  }
  lines.push(`Layers (${s.Layers.length}):`);
  lines.push(
    table(
      s.Layers.map((l) => [`  ${l.Digest}`, formatBytes(l.Size), l.MediaType.replace(/^application\//, "")]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function registerInspect(program: Command, cli: () => Cli): void {
  program
    .command("inspect")
    .description("show an image's digest, platform, config and layers")
    .argument("<image>", "image in any transport")
    .option("--raw", "print the manifest (or index) bytes exactly as stored")
    .option("--config", "print the config bytes exactly as stored")
    .option("--platform <os/arch[/variant]>", "from an index, inspect this platform's image")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      `
Examples:
  berth inspect app:latest
  berth inspect --raw oci:./layout:app | jq .
  berth inspect --config docker-archive:app.tar
  berth inspect --json --platform linux/arm64 oci:./multi`,
    )
    .action(async (image: string, opts) => {
      const { ctx, out } = cli();
      const opened = await openSource(parseImageArgument(image), ctx);
      try {
        const root = await loadRoot(opened.source, opened.root);
        if (opts.raw && !opts.platform) {
          out.stdout.write(root.rawManifest);
          return;
        }
        if (root.kind === "index" && !opts.platform && !opts.config) {
          const s = indexSummary(root);
          if (opts.json) printJson(out, s);
          else {
            out.stdout.write(`Digest:      ${s.Digest}\nMedia type:  ${s.MediaType}\nManifests:\n`);
            out.stdout.write(
              `${table(s.Manifests.map((m) => [`  ${m.Digest}`, m.Platform ?? "-", formatBytes(m.Size)]))}\n`,
            );
          }
          return;
        }
        const img = await selectImage(root, opts.platform ? parsePlatform(opts.platform) : undefined);
        if (opts.raw) {
          out.stdout.write(img.rawManifest);
          return;
        }
        if (opts.config) {
          if (!img.rawConfig) {
            throw new BerthError(
              "MEDIA_TYPE_UNSUPPORTED",
              `${image} has no image config (its config is ${img.manifest.config.mediaType})`,
            );
          }
          out.stdout.write(img.rawConfig);
          return;
        }
        const s = imageSummary(img, opened.name);
        // Images built with buildpacks: what `pack inspect` shows (base and run image, buildpacks, processes).
        const cnb = cnbImageInfo(img, image);
        if (opts.json) printJson(out, cnb ? { ...s, Buildpacks: cnb } : s);
        else out.stdout.write(cnb ? `${humanImage(s)}\n${formatCnbImageInfo(cnb)}` : humanImage(s));
      } finally {
        await opened.close();
      }
    });
}
