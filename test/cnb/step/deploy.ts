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
import { capabilitySet } from "../../../src/runtime/index.ts";
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
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
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
  secret?: { secretName: string; items?: { key: string; path: string }[] };
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
function k8sStep(
  c: K8sStep,
  sub: (s: string) => string,
  implicit: Mount[],
  defaults: K8sStep["securityContext"] = {},
): Step {
  if (sub(c.image) !== BUILDER) throw new Error(`step ${c.name} runs ${c.image}, not the builder image`);
  const sc = { ...defaults, ...c.securityContext };
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
      ...(c.volumeMounts ?? []).map((m) => ({
        volume: m.name,
        path: m.mountPath,
        readOnly: m.readOnly,
        subPath: m.subPath,
      })),
    ],
  };
}

/**
 * A pod's volumes: emptyDirs, the image volume holding berth, and a docker config secret (its
 * `.dockerconfigjson` key as config.json, where DOCKER_CONFIG looks).
 */
function k8sVolumes(volumes: K8sVolume[] | undefined): Record<string, Volume> {
  const out: Record<string, Volume> = {};
  for (const v of volumes ?? []) {
    if (v.emptyDir) out[v.name] = { kind: "emptyDir" };
    else if (v.image) out[v.name] = { kind: "berth", image: true };
    else if (v.secret?.items?.some((i) => i.key === ".dockerconfigjson" && i.path === "config.json")) {
      out[v.name] = { kind: "dockerConfig" };
    } else throw new Error(`volume ${v.name}: the harness knows emptyDir, image and docker config volumes`);
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

/**
 * A Shipwright ClusterBuildStrategy as Shipwright runs it (a Tekton TaskRun): the source at
 * /workspace/source (cloned as the strategy's user), the strategy's `securityContext` for every step, its
 * parameters' defaults under the test's `params`, and Shipwright's own `shp-*` parameters and results.
 */
export function shipwrightPod(
  strategy: Record<string, unknown>,
  o: { params: Record<string, string>; outputImage: string },
): Pod {
  if (strategy.kind !== "ClusterBuildStrategy")
    throw new Error(`a ClusterBuildStrategy, not ${String(strategy.kind)}`);
  const spec = strategy.spec as {
    parameters?: { name: string; default?: string }[];
    securityContext?: { runAsUser: number; runAsGroup: number };
    volumes?: K8sVolume[];
    steps: K8sStep[];
  };
  const source = "/workspace/source";
  const params: Record<string, string> = {
    "shp-source-root": source,
    "shp-source-context": source,
    "shp-output-image": o.outputImage,
  };
  for (const p of spec.parameters ?? []) {
    const v = o.params[p.name] ?? p.default;
    if (v === undefined) throw new Error(`parameter ${p.name} has no default and the test gives none`);
    params[p.name] = v;
  }
  const sub = substituter((key) => {
    const [kind, name, field] = key.split(".");
    if (kind === "params") return name === undefined ? undefined : params[name];
    if (kind === "results" && field === "path" && name?.startsWith("shp-")) return `/tekton/results/${name}`;
    return undefined;
  });
  const uid = spec.securityContext?.runAsUser;
  const implicit: Mount[] = [
    { volume: "tekton-workspace", path: "/workspace" },
    { volume: "tekton-results", path: "/tekton/results" },
    { volume: "source", path: source },
  ];
  return {
    volumes: {
      ...k8sVolumes(spec.volumes),
      "tekton-workspace": { kind: "emptyDir" },
      "tekton-results": { kind: "emptyDir" },
      source: { kind: "app", uid },
    },
    steps: spec.steps.map((s) => k8sStep(s, sub, implicit, spec.securityContext)),
  };
}

/** Docker's default capabilities: what a CI runner's job container holds. */
const DOCKER_CAPS = capabilitySet();

/** `${{ a.b }}` (GitHub) replaced from `values`; an unknown one is an error naming it. */
function githubSubstituter(values: Record<string, string>) {
  return (s: string) =>
    s.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (m, key: string) => {
      const v = values[key];
      if (v === undefined) throw new Error(`unknown expression ${m}`);
      return v;
    });
}

/**
 * A GitHub Actions job in a container, as the runner runs it: the image's user unless `options: --user`,
 * docker's default capabilities, the workspace at /__w/<repo>/<repo> (actions/checkout fills it), /__w/_temp
 * (RUNNER_TEMP), /github/home, the job's `container.volumes`, each `run:` step in `sh -e`.
 */
export function githubPod(
  workflow: Record<string, unknown>,
  job: string,
  values: Record<string, string>,
): Pod {
  const j = (workflow.jobs as Record<string, unknown>)[job] as {
    container: { image: string; options?: string; volumes?: string[] };
    env?: Record<string, string>;
    steps: { uses?: string; run?: string; env?: Record<string, string>; name?: string }[];
  };
  const sub = githubSubstituter(values);
  if (sub(j.container.image) !== BUILDER)
    throw new Error(`job ${job} runs ${j.container.image}, not the builder`);
  const user = /--user[ =](\d+)/.exec(j.container.options ?? "")?.[1];
  const workspace = "/__w/app/app";
  const volumes: Record<string, Volume> = {
    work: { kind: "emptyDir" },
    temp: { kind: "emptyDir" },
    home: { kind: "emptyDir" },
    checkout: { kind: "app" },
  };
  const mounts: Mount[] = [
    { volume: "work", path: "/__w" },
    { volume: "temp", path: "/__w/_temp" },
    { volume: "home", path: "/github/home" },
  ];
  for (const v of j.container.volumes ?? []) {
    const [source, path, mode] = v.split(":");
    if (source !== "/opt/berth" || path === undefined)
      throw new Error(`volume ${v}: the harness mounts berth only`);
    volumes.berth = { kind: "berth" };
    mounts.push({ volume: "berth", path, readOnly: mode === "ro" });
  }
  const env = {
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: "/__w/_temp",
    GITHUB_OUTPUT: "/__w/_temp/github-output",
    HOME: "/github/home",
  };
  const steps: Step[] = [];
  for (const [i, s] of j.steps.entries()) {
    if (s.uses?.startsWith("actions/checkout@")) {
      mounts.push({ volume: "checkout", path: workspace });
      continue;
    }
    if (s.run === undefined) throw new Error(`step ${i + 1} of job ${job} is neither checkout nor run`);
    const stepEnv = { ...j.env, ...s.env };
    steps.push({
      name: `step-${i + 1}`,
      uid: user === undefined ? undefined : Number(user),
      gid: user === undefined ? undefined : Number(user),
      capAdd: DOCKER_CAPS,
      readOnlyRoot: false,
      env: { ...env, ...Object.fromEntries(Object.entries(stepEnv).map(([k, v]) => [k, sub(v)])) },
      args: ["sh", "-e", "-c", sub(s.run)],
      workingDir: workspace,
      mounts,
    });
  }
  return { volumes, steps };
}

/** `$X` and `${X}` replaced from `vars` (GitLab expands a job's variables so); unknown ones are left empty. */
function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_m, a?: string, b?: string) => vars[a ?? b ?? ""] ?? "");
}

/**
 * A GitLab CI job with the docker executor: the image's user unless `image.docker.user`, docker's default
 * capabilities, /builds a volume with the project at /builds/group/app, the runner's volume /berth, the
 * script's lines in one `sh -e` with the job's variables (expanded against the project's `variables`).
 */
export function gitlabPod(ci: Record<string, unknown>, job: string, project: Record<string, string>): Pod {
  const j = ci[job] as {
    image: { name: string; docker?: { user?: string } };
    variables?: Record<string, string>;
    script: string[];
  };
  const predefined = {
    CI: "true",
    GITLAB_CI: "true",
    CI_BUILDS_DIR: "/builds",
    CI_PROJECT_DIR: "/builds/group/app",
  };
  const vars: Record<string, string> = { ...predefined, ...project };
  for (const [k, v] of Object.entries(j.variables ?? {})) vars[k] = expandVars(v, vars);
  if (expandVars(j.image.name, vars) !== BUILDER)
    throw new Error(`job ${job} runs ${j.image.name}, not the builder`);
  const user = j.image.docker?.user;
  return {
    volumes: { builds: { kind: "emptyDir" }, checkout: { kind: "app" }, berth: { kind: "berth" } },
    steps: [
      {
        name: job,
        uid: user === undefined ? undefined : Number(user),
        gid: user === undefined ? undefined : Number(user),
        capAdd: DOCKER_CAPS,
        readOnlyRoot: false,
        env: vars,
        args: ["sh", "-e", "-c", j.script.join("\n")],
        workingDir: predefined.CI_PROJECT_DIR,
        mounts: [
          { volume: "builds", path: "/builds" },
          { volume: "checkout", path: predefined.CI_PROJECT_DIR },
          { volume: "berth", path: "/berth", readOnly: true },
        ],
      },
    ],
  };
}
