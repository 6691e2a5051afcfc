import type { Command } from "commander";
import { cnbImageInfo, formatCnbImageInfo } from "../../cnb/index.ts";
import { BerthError } from "../../errors.ts";
import { type Image, loadRoot, type Root, selectImage } from "../../oci/image.ts";
import { formatPlatform, parsePlatform } from "../../oci/platform.ts";
import { openSource } from "../../transport/open.ts";
import { parseImageArgument } from "../../transport/parse.ts";
import type { Cli } from "../env.ts";
import { jsonOption, platformOf } from "../flags.ts";
import { formatBytes, printJson, table } from "../output.ts";

export function imageSummary(image: Image, name?: string) {
  const config = image.config;
  const c = config?.config ?? {};
  const layers = image.manifest.layers.map((l, i) => ({
    digest: l.digest,
    size: l.size,
    mediaType: l.mediaType,
    diffId: config?.rootfs.diff_ids[i],
  }));
  return {
    ...(name ? { name: name } : {}),
    digest: image.digest,
    mediaType: image.mediaType,
    configDigest: image.manifest.config.digest,
    configMediaType: image.manifest.config.mediaType,
    created: config?.created,
    architecture: config?.architecture,
    os: config?.os,
    ...(config?.variant ? { variant: config.variant } : {}),
    size: image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0),
    layers: layers,
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? null,
    cmd: c.Cmd ?? null,
    workingDir: c.WorkingDir ?? "",
    user: c.User ?? "",
    exposedPorts: Object.keys(c.ExposedPorts ?? {}),
    labels: c.Labels ?? {},
    annotations: image.manifest.annotations ?? {},
  };
}

function indexSummary(root: Root & { kind: "index" }) {
  return {
    digest: root.digest,
    mediaType: root.mediaType,
    manifests: root.index.manifests.map((m) => ({
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.size,
      platform: m.platform ? formatPlatform(m.platform) : undefined,
    })),
    annotations: root.index.annotations ?? {},
  };
}

function humanImage(s: ReturnType<typeof imageSummary>): string {
  const lines = [
    ...(s.name ? [`Name:        ${s.name}`] : []),
    `Digest:      ${s.digest}`,
    `Media type:  ${s.mediaType}`,
    `Platform:    ${[s.os, s.architecture, s.variant].filter(Boolean).join("/")}`,
    `Created:     ${s.created ?? "unknown"}`,
    `Size:        ${formatBytes(s.size)} (${s.size} bytes)`,
    `Entrypoint:  ${JSON.stringify(s.entrypoint)}`,
    `Cmd:         ${JSON.stringify(s.cmd)}`,
  ];
  if (s.workingDir) lines.push(`WorkingDir:  ${s.workingDir}`);
  if (s.user) lines.push(`User:        ${s.user}`);
  if (s.exposedPorts.length) lines.push(`Ports:       ${s.exposedPorts.join(", ")}`);
  lines.push("Env:");
  for (const e of s.env) lines.push(`  ${e}`);
  const labels = Object.entries(s.labels);
  if (labels.length) {
    lines.push("Labels:");
    for (const [k, v] of labels) lines.push(`  ${k}=${v.length > 120 ? `${v.slice(0, 117)}...` : v}`);
  }
  lines.push(`Layers (${s.layers.length}):`);
  lines.push(
    table(
      s.layers.map((l) => [`  ${l.digest}`, formatBytes(l.size), l.mediaType.replace(/^application\//, "")]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function registerInspect(program: Command, cli: () => Cli): void {
  registerInspectCommand(program, cli);
  registerDigest(program, cli);
}

function registerInspectCommand(program: Command, cli: () => Cli): void {
  program
    .command("inspect")
    .description("show an image's digest, platform, config and layers")
    .argument("<image>", "image in any transport")
    .option("--raw", "print the manifest (or index) bytes exactly as stored")
    .option("--config", "print the config bytes exactly as stored")
    .option("--platform <os/arch[/variant]>", "from an index, inspect this platform's image")
    .addOption(jsonOption("the summary"))
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
            out.stdout.write(`Digest:      ${s.digest}\nMedia type:  ${s.mediaType}\nManifests:\n`);
            out.stdout.write(
              `${table(s.manifests.map((m) => [`  ${m.digest}`, m.platform ?? "-", formatBytes(m.size)]))}\n`,
            );
          }
          return;
        }
        const img = await selectImage(root, platformOf(opts.platform));
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
        if (opts.json) printJson(out, cnb ? { ...s, buildpacks: cnb } : s);
        else out.stdout.write(cnb ? `${humanImage(s)}\n${formatCnbImageInfo(cnb)}` : humanImage(s));
      } finally {
        await opened.close();
      }
    });
}

function registerDigest(program: Command, cli: () => Cli): void {
  program
    .command("digest")
    .description(
      "print an image's manifest digest (an index's, unless --platform picks one image), as crane digest",
    )
    .argument("<image>", "image in any transport")
    .option("--platform <os/arch[/variant]>", "from an index, the digest of this platform's image")
    .addHelpText(
      "after",
      "\nExamples:\n  berth digest app:1\n  berth digest docker://127.0.0.1:5000/team/app:1 --platform linux/amd64",
    )
    .action(async (image: string, opts) => {
      const { ctx, out } = cli();
      const opened = await openSource(parseImageArgument(image), ctx);
      try {
        const root = await loadRoot(opened.source, opened.root);
        const digest = opts.platform
          ? (await selectImage(root, parsePlatform(opts.platform))).digest
          : root.digest;
        out.stdout.write(`${digest}\n`);
      } finally {
        await opened.close();
      }
    });
}
