/**
 * The Platform API's files: `order.toml`, `group.toml`, `plan.toml`, `run.toml`, `stack.toml` and
 * `<layers>/config/metadata.toml`, in the lifecycle's TOML shapes.
 */
import type { ModuleRef, Order } from "../buildpack/descriptor.ts";
import type { Label, Process, Slice } from "../buildpack/files.ts";
import type { Require } from "../buildpack/plan.ts";
import { Fields, type Origin, parseToml, type Table, toToml } from "../toml.ts";

/** A member of a group as group.toml records it. */
export interface GroupElement {
  id: string;
  version: string;
  api?: string;
  homepage?: string;
  optional?: boolean;
}

export interface Group {
  group: GroupElement[];
}

export interface PlanEntry {
  providers: { id: string; version: string }[];
  requires: Require[];
}

export interface Plan {
  entries: PlanEntry[];
}

export function parseOrderToml(text: string, file: string): { order: Order; orderExtensions: Order } {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return { order: parseOrderList(doc, "order"), orderExtensions: parseOrderList(doc, "order-extensions") };
}

export function parseOrderList(f: Fields, key: string): Order {
  return f.list(key).map((o) => ({
    group: o.list("group").map((g) => {
      const ref: ModuleRef = { id: g.requiredStr("id") };
      const version = g.str("version");
      if (version) ref.version = version;
      if (g.bool("optional")) ref.optional = true;
      const execEnv = g.strs("exec-env");
      if (execEnv) ref.execEnv = execEnv;
      return ref;
    }),
  }));
}

function refToToml(r: ModuleRef): Table {
  return {
    id: r.id,
    ...(r.version ? { version: r.version } : {}),
    ...(r.optional ? { optional: true } : {}),
    ...(r.execEnv?.length ? { "exec-env": r.execEnv } : {}),
  };
}

export function orderToml(order: Order, orderExtensions: Order = []): string {
  const doc: Table = { order: order.map((g) => ({ group: g.group.map(refToToml) })) };
  if (orderExtensions.length)
    doc["order-extensions"] = orderExtensions.map((g) => ({ group: g.group.map(refToToml) }));
  return toToml(doc);
}

export function groupToml(group: Group): string {
  return toToml({
    group: group.group.map((e) => ({
      id: e.id,
      version: e.version,
      ...(e.api ? { api: e.api } : {}),
      ...(e.homepage ? { homepage: e.homepage } : {}),
    })),
  });
}

export function parseGroupToml(text: string, file: string): Group {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return {
    group: doc.list("group").map((g) => {
      const e: GroupElement = { id: g.requiredStr("id"), version: g.str("version") ?? "" };
      const api = g.str("api");
      const homepage = g.str("homepage");
      if (api) e.api = api;
      if (homepage) e.homepage = homepage;
      return e;
    }),
  };
}

export function planToml(plan: Plan): string {
  return toToml({
    entries: plan.entries.map((e) => ({
      providers: e.providers.map((p) => ({ id: p.id, version: p.version })),
      requires: e.requires.map((r) => ({ name: r.name, ...(r.metadata ? { metadata: r.metadata } : {}) })),
    })),
  });
}

export function parsePlanToml(text: string, file: string): Plan {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return {
    entries: doc.list("entries").map((e) => ({
      providers: e
        .list("providers")
        .map((p) => ({ id: p.requiredStr("id"), version: p.str("version") ?? "" })),
      requires: e.list("requires").map((r) => {
        const req: Require = { name: r.requiredStr("name") };
        const md = r.anyTable("metadata");
        if (md) req.metadata = md;
        return req;
      }),
    })),
  };
}

/** The Buildpack Plan for one buildpack: the requires of every entry it is a provider of (lc `Plan.Find`). */
export function findPlan(plan: Plan, id: string): Require[] {
  const out: Require[] = [];
  for (const e of plan.entries) {
    if (e.providers.some((p) => p.id === id)) out.push(...e.requires);
  }
  return out;
}

/** Drop entries met by a buildpack (lc `Plan.Filter`). */
export function filterPlan(plan: Plan, met: readonly string[]): Plan {
  return { entries: plan.entries.filter((e) => !e.requires.some((r) => met.includes(r.name))) };
}

export interface RunImage {
  image: string;
  mirrors?: string[];
}

export function runToml(images: RunImage[]): string {
  return toToml({ images: images.map((i) => ({ image: i.image, mirrors: i.mirrors ?? [] })) });
}

export function parseRunToml(text: string, file: string): RunImage[] {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return doc.list("images").map((i) => ({ image: i.requiredStr("image"), mirrors: i.strs("mirrors") ?? [] }));
}

/** Legacy `stack.toml`: `[run-image] image, mirrors`. Empty when there is no run image. */
export function stackToml(runImage: RunImage | undefined): string {
  if (!runImage) return "";
  return toToml({ "run-image": { image: runImage.image, mirrors: runImage.mirrors ?? [] } });
}

/** `<layers>/config/metadata.toml`, written by the builder and read by the exporter. */
export interface BuildMetadata {
  buildpacks: GroupElement[];
  processes: Process[];
  labels: Label[];
  slices: Slice[];
  /** The buildpack-provided default process type, when one is left. */
  buildpackDefaultProcessType?: string;
}

export function metadataToml(md: BuildMetadata): string {
  const doc: Table = {
    buildpacks: md.buildpacks.map((b) => ({
      id: b.id,
      version: b.version,
      ...(b.api ? { api: b.api } : {}),
      ...(b.homepage ? { homepage: b.homepage } : {}),
    })),
    labels: md.labels.map((l) => ({ key: l.key, value: l.value })),
    processes: md.processes.map((p) => ({
      type: p.type,
      command: p.command,
      // As the lifecycle (BurntSushi/toml leaves out a nil slice): no `args` key for a process without args.
      ...(p.args.length ? { args: p.args } : {}),
      direct: p.direct,
      "buildpack-id": p.buildpackId,
      ...(p.workingDir ? { "working-dir": p.workingDir } : {}),
      ...(p.execEnv?.length ? { "exec-env": p.execEnv } : {}),
    })),
    slices: md.slices.map((s) => ({ paths: s.paths })),
  };
  if (md.buildpackDefaultProcessType) doc["buildpack-default-process-type"] = md.buildpackDefaultProcessType;
  return toToml(doc);
}

export function parseMetadataToml(text: string, file: string): BuildMetadata {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const md: BuildMetadata = {
    buildpacks: doc.list("buildpacks").map((b) => {
      const e: GroupElement = { id: b.requiredStr("id"), version: b.str("version") ?? "" };
      const api = b.str("api");
      const homepage = b.str("homepage");
      if (api) e.api = api;
      if (homepage) e.homepage = homepage;
      return e;
    }),
    labels: doc.list("labels").map((l) => ({ key: l.requiredStr("key"), value: l.str("value") ?? "" })),
    processes: doc.list("processes").map((p) => {
      const proc: Process = {
        type: p.requiredStr("type"),
        command: p.strs("command") ?? [],
        args: p.strs("args") ?? [],
        direct: p.bool("direct") ?? true,
        default: false,
        buildpackId: p.str("buildpack-id") ?? "",
      };
      const wd = p.str("working-dir");
      if (wd) proc.workingDir = wd;
      const execEnv = p.strs("exec-env");
      if (execEnv) proc.execEnv = execEnv;
      return proc;
    }),
    slices: doc.list("slices").map((s) => ({ paths: s.strs("paths") ?? [] })),
  };
  const def = doc.str("buildpack-default-process-type");
  if (def) md.buildpackDefaultProcessType = def;
  return md;
}
