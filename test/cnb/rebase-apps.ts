/**
 * App images for `berth rebase` of many images, made quickly: one small run image pair (busybox; the second
 * version adds /etc/run-image-version) and one app image on the first (one layer, a
 * `io.buildpacks.lifecycle.metadata` label naming `REG/base/run:latest`), then as many apps as wanted by
 * writing configs and manifests through the registry's API that reuse the template's layers (blob mounts).
 * Shared by test/cnb/cli/rebase-many.test.ts and bench/rebase-many.ts.
 */
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { busyboxImage } from "../runtime/helpers.ts";

export type Cli = (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

async function ok(cli: Cli, args: string[]): Promise<string> {
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`berth ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * Push run image 1 to REG/base/run:latest and run image 2 to REG/base/run:2, and make the app template
 * REG/apps/template:1 on run image 1. `newRun()` later copies run image 2 over REG/base/run:latest.
 */
export async function makeRebaseFleet(
  dir: string,
  reg: string,
  cli: Cli,
): Promise<{ template: string; newRun: () => Promise<void> }> {
  const runLayout = join(dir, "runlayout");
  await busyboxImage(runLayout, "run", { env: ["PATH=/bin"], user: "app" });
  await busyboxImage(runLayout, "run2", { env: ["PATH=/bin"], user: "app" }, [
    [{ path: "etc/run-image-version", content: "2\n" }],
  ]);
  await ok(cli, ["copy", `oci:${runLayout}:run`, `docker://${reg}/base/run:latest`]);
  await ok(cli, ["copy", `oci:${runLayout}:run2`, `docker://${reg}/base/run:2`]);
  const run = JSON.parse(await ok(cli, ["inspect", "--json", `docker://${reg}/base/run:latest`])) as {
    digest: string;
    layers: { diffId: string }[];
  };
  const appDir = join(dir, "appfiles");
  await mkdir(join(appDir, "bin"), { recursive: true });
  await writeFile(join(appDir, "bin", "hello"), "#!/bin/sh\necho hello from the app\n", { mode: 0o755 });
  const template = `${reg}/apps/template:1`;
  await ok(cli, [
    "append",
    `docker://${reg}/base/run:latest`,
    `${appDir}:/workspace`,
    "-t",
    `docker://${template}`,
  ]);
  const metadata = {
    runImage: {
      topLayer: run.layers[run.layers.length - 1]!.diffId,
      reference: `${reg}/base/run@${run.digest}`,
      image: `${reg}/base/run:latest`,
    },
  };
  await ok(cli, [
    "mutate",
    `docker://${template}`,
    "-t",
    `docker://${template}`,
    "--env",
    "CNB_PLATFORM_API=0.12",
    "--entrypoint",
    '["/workspace/bin/hello"]',
    "--label",
    `io.buildpacks.lifecycle.metadata=${JSON.stringify(metadata)}`,
  ]);
  return {
    template,
    newRun: async () => {
      await ok(cli, ["copy", `docker://${reg}/base/run:2`, `docker://${reg}/base/run:latest`]);
    },
  };
}

/**
 * Apps `names` (`repo:tag`, on registry `reg`) as copies of `template` that differ in one label
 * (`berth.test/app`): for each, the template's layers are mounted into its repository, and a config and a
 * manifest are written.
 */
export async function pushApps(reg: string, template: string, names: string[], jobs = 8): Promise<void> {
  const base = `http://${reg}/v2`;
  const [tRepo, tTag] = splitName(template.slice(reg.length + 1));
  const mt = "application/vnd.oci.image.manifest.v1+json";
  const mres = await fetch(`${base}/${tRepo}/manifests/${tTag}`, {
    headers: { accept: `${mt}, application/vnd.docker.distribution.manifest.v2+json` },
  });
  if (!mres.ok) throw new Error(`reading ${template}: ${mres.status}`);
  const manifestType = mres.headers.get("content-type") ?? mt;
  const manifest = (await mres.json()) as {
    config: { digest: string; size: number; mediaType: string };
    layers: { digest: string }[];
  };
  const cres = await fetch(`${base}/${tRepo}/blobs/${manifest.config.digest}`);
  if (!cres.ok) throw new Error(`reading ${template}'s config: ${cres.status}`);
  const config = (await cres.json()) as { config: { Labels?: Record<string, string> } };
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      const [repo, tag] = splitName(name.startsWith(`${reg}/`) ? name.slice(reg.length + 1) : name);
      for (const l of manifest.layers) {
        const r = await fetch(`${base}/${repo}/blobs/uploads/?mount=${l.digest}&from=${tRepo}`, {
          method: "POST",
        });
        if (r.status !== 201) throw new Error(`mounting ${l.digest} into ${repo}: ${r.status}`);
        await r.arrayBuffer();
      }
      const c = structuredClone(config);
      c.config.Labels = { ...c.config.Labels, "berth.test/app": name };
      const body = Buffer.from(JSON.stringify(c));
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const start = await fetch(`${base}/${repo}/blobs/uploads/`, { method: "POST" });
      await start.arrayBuffer();
      const loc = new URL(start.headers.get("location")!, `http://${reg}`);
      loc.searchParams.set("digest", digest);
      const put = await fetch(loc, {
        method: "PUT",
        body,
        headers: { "content-type": "application/octet-stream" },
      });
      if (put.status !== 201) throw new Error(`uploading ${name}'s config: ${put.status}`);
      await put.arrayBuffer();
      const m = { ...manifest, config: { ...manifest.config, digest, size: body.length } };
      const pm = await fetch(`${base}/${repo}/manifests/${tag}`, {
        method: "PUT",
        body: JSON.stringify(m),
        headers: { "content-type": manifestType },
      });
      if (pm.status !== 201) throw new Error(`writing ${name}'s manifest: ${pm.status} ${await pm.text()}`);
      await pm.arrayBuffer().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, names.length) }, worker));
}

function splitName(name: string): [string, string] {
  const at = name.lastIndexOf(":");
  return [name.slice(0, at), name.slice(at + 1)];
}
