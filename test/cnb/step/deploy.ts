/**
 * The deploy/ files read as their engines read them, into the harness's pods: each step's command, args (or
 * script), env, user, capabilities, read-only root and volumes come from the file, with the engine's
 * placeholders (Tekton's `$(params.x)`, `$(workspaces.x.path)`, `$(results.x.path)`; Shipwright's
 * `$(params.shp-…)`, `$(build.…)`; GitHub's `${{ … }}`; GitLab's `$VAR`) replaced by the test's values. A change
 * to a deploy file changes what the harness runs.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parse } from "yaml";
import type { Mount, Pod, Step, Volume } from "./harness.ts";

const DEPLOY = resolve(import.meta.dirname, "../../../deploy");

/** A deploy file's YAML. */
export async function readDeploy(path: string): Promise<Record<string, unknown>> {
  return parse(await readFile(resolve(DEPLOY, path), "utf8")) as Record<string, unknown>;
}

/** The image every step must name (the harness runs steps in the builder's build image only). */
export const BUILDER = "builder-image";

interface K8sStep {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  script?: string;
  workingDir?: string;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    runAsNonRoot?: boolean;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
}

interface K8sVolume {
  name: string;
  emptyDir?: object;
  image?: { reference: string };
}

/** Replace `$(a.b…)` placeholders; an unknown one is an error naming it. */
function substituter(values: (key: string) => string | undefined) {
  return (s: string) =>
    s.replace(/\$\(([\w.-]+)\)/g, (m, key: string) => {
      const v = values(key);
      if (v === undefined) throw new Error(`unknown placeholder ${m}`);
      return v;
    });
}

/**
 * A Kubernetes container as a harness step: the engine's placeholders substituted, a script run by sh with
 * `set -e` (Tekton's default for a script without #!), the security context's user, added capabilities and
 * read-only root. Steps that ask for more (privileged, escalation, dropping less than ALL) are refused.
 */
function k8sStep(c: K8sStep, sub: (s: string) => string, implicit: Mount[]): Step {
  if (sub(c.image) !== BUILDER) throw new Error(`step ${c.name} runs ${c.image}, not the builder image`);
  const sc = c.securityContext ?? {};
  if (sc.privileged || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes("ALL")) {
    throw new Error(`step ${c.name} does not drop every capability and privilege escalation`);
  }
  const args = c.script
    ? ["/bin/sh", "-c", `set -e\n${sub(c.script)}`]
    : [...(c.command ?? []), ...(c.args ?? [])].map(sub);
  return {
    name: c.name,
    uid: sc.runAsUser,
    gid: sc.runAsGroup,
    capAdd: sc.capabilities.add ?? [],
    readOnlyRoot: sc.readOnlyRootFilesystem === true,
    env: Object.fromEntries((c.env ?? []).map((e) => [e.name, sub(e.value ?? "")])),
    args,
    workingDir: c.workingDir === undefined ? undefined : sub(c.workingDir),
    mounts: [
      ...implicit,
      ...(c.volumeMounts ?? []).map((m) => ({ volume: m.name, path: m.mountPath, readOnly: m.readOnly })),
    ],
  };
}

/** A pod's volumes: emptyDirs, and the image volume holding berth. */
function k8sVolumes(volumes: K8sVolume[] | undefined): Record<string, Volume> {
  const out: Record<string, Volume> = {};
  for (const v of volumes ?? []) {
    if (v.emptyDir) out[v.name] = { kind: "emptyDir" };
    else if (v.image) out[v.name] = { kind: "berth" };
    else throw new Error(`volume ${v.name}: the harness knows emptyDir and image volumes`);
  }
  return out;
}

/**
 * A Tekton Task as Tekton runs it in one pod: every workspace mounted in every step at
 * `/workspace/<name>` (or its mountPath), /workspace and /tekton/results as emptyDirs, the params' defaults
 * under the test's `params`.
 */
export function tektonPod(
  task: Record<string, unknown>,
  o: { params: Record<string, string>; workspaces: Record<string, Volume> },
): Pod {
  if (task.kind !== "Task") throw new Error(`a Tekton Task, not ${String(task.kind)}`);
  const spec = task.spec as {
    params?: { name: string; default?: string }[];
    workspaces?: { name: string; mountPath?: string; readOnly?: boolean }[];
    volumes?: K8sVolume[];
    steps: K8sStep[];
  };
  const params: Record<string, string> = {};
  for (const p of spec.params ?? []) {
    const v = o.params[p.name] ?? p.default;
    if (v === undefined) throw new Error(`param ${p.name} has no default and the test gives none`);
    params[p.name] = v;
  }
  const volumes: Record<string, Volume> = {
    ...k8sVolumes(spec.volumes),
    "tekton-workspace": { kind: "emptyDir" },
    "tekton-results": { kind: "emptyDir" },
  };
  const implicit: Mount[] = [
    { volume: "tekton-workspace", path: "/workspace" },
    { volume: "tekton-results", path: "/tekton/results" },
  ];
  const paths: Record<string, string> = {};
  for (const w of spec.workspaces ?? []) {
    const v = o.workspaces[w.name];
    if (!v) throw new Error(`workspace ${w.name} is not bound by the test`);
    const path = w.mountPath ?? `/workspace/${w.name}`;
    paths[w.name] = path;
    volumes[`ws-${w.name}`] = v;
    implicit.push({ volume: `ws-${w.name}`, path, readOnly: w.readOnly });
  }
  const sub = substituter((key) => {
    const [kind, name, field] = key.split(".");
    if (kind === "params") return name === undefined ? undefined : params[name];
    if (kind === "workspaces" && field === "path") return name === undefined ? undefined : paths[name];
    if (kind === "results" && field === "path") return `/tekton/results/${name}`;
    return undefined;
  });
  return { volumes, steps: spec.steps.map((s) => k8sStep(s, sub, implicit)) };
}
