/**
 * The detect phase (spec §Detection, §Order Resolution; lc phase/detector.go): walk the order's groups,
 * expanding composite buildpacks depth first and repeating a group without an optional composite, run each
 * member's `bin/detect` once (memoised across groups), resolve the build plan, and return the first group
 * that passes with its plan. Prints pack's lines; a failing detect's output is shown.
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { BerthError } from "../../errors.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { apiAtLeast } from "../api.ts";
import { bpKey, effectiveTargets, escapeId, type ModuleRef, type Order } from "../buildpack/descriptor.ts";
import { extensionTargets, extSubject } from "../buildpack/extension.ts";
import { bpSubject, type LoadedBuildpack } from "../buildpack/load.ts";
import { parseBuildPlan } from "../buildpack/plan.ts";
import type { BuildpackStore } from "../buildpack/store.ts";
import {
  canExecAll,
  type ExecRequest,
  type ExecResult,
  execEach,
  layersTree,
  toRunPath,
} from "../executor.ts";
import type { Group } from "../files/group.ts";
import type { Plan } from "../files/plan.ts";
import { type PhaseLogger, timer } from "../log.ts";
import { targetEnv, targetSatisfied } from "../platform/target.ts";
import { type DetectRun, keyOf, type Member, resolveGroup, runKey } from "./detect/resolve.ts";
import type { PhaseInputs } from "./inputs.ts";

export interface DetectInputs extends PhaseInputs {
  order: Order;
  /** The builder's `[[order-extensions]]`, put before every group of `order` (all optional; lc `PrependExtensions`). */
  orderExtensions?: Order;
  /** Where the extensions of `orderExtensions` are looked up. */
  extensions?: BuildpackStore;
}

export interface DetectFailure {
  id: string;
  version: string;
  code: number;
  output: string;
  error?: string;
  optional: boolean;
}

export interface DetectResult {
  group: Group;
  plan: Plan;
  /** Members of the group that were tried (for `N of M buildpacks participating`). */
  considered: number;
}

type Outcome =
  | { ok: true; group: Member[]; plan: Plan["entries"]; considered: number }
  | { ok: false; reason: "fail" | "error" };

interface RefWithGroup {
  ref: ModuleRef;
  /** The element standing for the extensions' order at the head of a group. */
  extOrder?: Order;
}

/**
 * The lifecycle's detector logs each group's outputs and results into memory and replays them when detection
 * ends: at their own level when a group passed, every line (debug ones too) when none did, so that without
 * `-v` a user sees why (lc phase/detector.go `Detect`, the `memHandler`).
 */
class Replay {
  readonly entries: { level: "info" | "debug"; line: string }[] = [];
  readonly logger: PhaseLogger = {
    info: (line) => this.entries.push({ level: "info", line }),
    debug: (line) => this.entries.push({ level: "debug", line }),
    warn: (line) => this.entries.push({ level: "info", line }),
  };

  replay(to: PhaseLogger, all: boolean): void {
    for (const e of this.entries) {
      if (all || e.level === "info") to.info(e.line);
      else to.debug(e.line);
    }
  }
}

/** A `bin/detect` to run (its plan directory removed by `cleanup` after), or its result without a run. */
type PreparedDetect =
  | { kind: "done"; run: DetectRun }
  | {
      kind: "exec";
      req: ExecRequest;
      finish: (result: ExecResult) => Promise<DetectRun>;
      cleanup: () => Promise<void>;
    };

/** An extension only provides (lc buildpack/detect.go `detectExt`). */
function onlyProvides(bp: LoadedBuildpack, run: DetectRun): DetectRun {
  if (bp.descriptor.kind !== "extension" || run.code !== 0 || !run.plan) return run;
  if (run.plan.requires.length || run.plan.or.some((o) => o.requires.length)) {
    return {
      ...run,
      code: -1,
      error: `extension ${bp.descriptor.buildpack.id} outputs "requires" which is not allowed`,
    };
  }
  return run;
}

class Detector {
  readonly i: DetectInputs;
  readonly memory = new Replay();
  readonly runs = new Map<string, DetectRun>();
  readonly pending = new Map<string, Promise<void>>();
  readonly tried = new Map<string, Member>();
  #seq = 0;

  constructor(i: DetectInputs) {
    this.i = i;
  }

  async detectOrder(
    order: Order,
    done: Member[],
    next: RefWithGroup[],
    optional: boolean,
    head: RefWithGroup[] = [],
  ): Promise<Outcome> {
    let buildpackErr = false;
    for (const g of order) {
      const r = await this.detectGroup([...head, ...g.group.map((ref) => ({ ref })), ...next], done);
      if (r.ok) return r;
      if (r.reason === "error") buildpackErr = true;
    }
    if (optional) return this.detectGroup(next, done);
    return { ok: false, reason: buildpackErr ? "error" : "fail" };
  }

  async detectGroup(group: RefWithGroup[], done: Member[]): Promise<Outcome> {
    // The group's detects not run yet go in one batch (one container with an executor that can `execAll`).
    const batch: { key: string; bp: LoadedBuildpack }[] = [];
    const started: string[] = [];
    const runStarted = () => {
      this.startBatch(batch.splice(0));
      return Promise.all(started.map((k) => this.pending.get(k)));
    };
    for (const [i, { ref, extOrder }] of group.entries()) {
      if (extOrder) {
        await runStarted();
        return this.detectOrder(extOrder, done, group.slice(i + 1), true);
      }
      const ext = ref.extension ?? false;
      if (done.some((d) => d.id === ref.id && (d.extension ?? false) === ext)) continue;
      if (ext && !this.i.extensions)
        throw new BerthError("INTERNAL", `extension ${ref.id} without an extension store`);
      const bp = ext
        ? this.i.extensions!.lookup(ref.id, ref.version)
        : this.i.store.lookup(ref.id, ref.version);
      const d = bp.descriptor;
      if (d.order.length > 0) {
        await runStarted();
        return this.detectOrder(d.order, done, group.slice(i + 1), ref.optional ?? false);
      }
      const member: Member = {
        id: d.buildpack.id,
        version: d.buildpack.version,
        api: d.api,
        optional: ext || (ref.optional ?? false),
        ...(d.buildpack.homepage ? { homepage: d.buildpack.homepage } : {}),
        ...(ext ? { extension: true } : {}),
      };
      const key = runKey(member);
      if (apiAtLeast(this.i.platformApi, "0.12")) {
        const targets = ext ? await extensionTargets(d, bp.dir) : await effectiveTargets(d, bp.dir);
        const ok = targets.length === 0 || targets.some((t) => targetSatisfied(this.i.target, t));
        if (!ok && !member.optional) {
          done = [...done, member];
          this.tried.set(key, member);
          this.runs.set(key, {
            code: -1,
            output: "",
            error: `unable to satisfy target os/arch constraints; run image: ${JSON.stringify(this.i.target)}, buildpack: ${JSON.stringify(targets)}`,
          });
          continue;
        }
      }
      if (this.i.execEnv && apiAtLeast(d.api, "0.12") && d.buildpack.execEnv?.length) {
        const envs = d.buildpack.execEnv;
        if (!envs.includes("*") && !envs.includes(this.i.execEnv)) {
          this.i.logger.debug(`Skipping ${key} due to execution environment mismatch`);
          continue;
        }
      }
      done = [...done, member];
      this.tried.set(key, member);
      if (!this.runs.has(key) && !this.pending.has(key) && !batch.some((b) => b.key === key))
        batch.push({ key, bp });
      started.push(key);
    }
    await runStarted();
    await Promise.all(done.map((m) => this.pending.get(runKey(m))));
    this.showOutputs(done);
    const r = resolveGroup(done, this.runs, this.memory.logger);
    if (!r.ok) return r;
    return { ok: true, group: r.group, plan: r.plan, considered: done.length };
  }

  /** Output of errored detects is shown (as the lifecycle does); of the others at debug level. */
  showOutputs(done: Member[]): void {
    for (const m of done) {
      const run = this.runs.get(runKey(m))!;
      const quiet = run.code === 0 || run.code === 100;
      const log = this.memory.logger;
      const show = (line: string) => (quiet ? log.debug(line) : log.info(line));
      if (run.output) {
        show(`======== Output: ${keyOf(m)} ========`);
        show(run.output.replace(/\n$/, ""));
      }
      if (run.error) {
        show(`======== Error: ${keyOf(m)} ========`);
        show(run.error);
      }
    }
  }

  /** Run these detects together, each key's result in `runs` when its promise in `pending` settles. */
  startBatch(items: { key: string; bp: LoadedBuildpack }[]): void {
    if (items.length === 0) return;
    const all = this.runDetects(items.map((it) => it.bp));
    for (const [k, it] of items.entries()) {
      this.pending.set(
        it.key,
        all.then((runs) => {
          this.runs.set(it.key, runs[k]!);
        }),
      );
    }
  }

  /**
   * Each buildpack's `bin/detect`, all in one batch when the executor can `execAll` (group-runner.ts: one
   * container for the phase's batches), else each on its own, with the same results either way.
   */
  async runDetects(bps: LoadedBuildpack[]): Promise<DetectRun[]> {
    const prepared = await Promise.all(bps.map((bp) => this.prepareDetect(bp)));
    try {
      const toRun = prepared.flatMap((p) => (p.kind === "exec" ? [p] : []));
      const ex = this.i.executor;
      const reqs = toRun.map((p) => p.req);
      const results = canExecAll(ex) ? await ex.execAll(reqs) : await execEach(ex, reqs);
      const runs = new Map(
        await Promise.all(toRun.map(async (p, k) => [p, await p.finish(results[k]!)] as const)),
      );
      return bps.map((bp, k) => {
        const p = prepared[k]!;
        return onlyProvides(bp, p.kind === "done" ? p.run : runs.get(p)!);
      });
    } finally {
      await Promise.all(prepared.map((p) => (p.kind === "exec" ? p.cleanup() : undefined)));
    }
  }

  /** What running a `bin/detect` takes, or its result when it cannot run (missing, not executable). */
  async prepareDetect(bp: LoadedBuildpack): Promise<PreparedDetect> {
    const d = bp.descriptor;
    const ex = this.i.executor;
    const ext = d.kind === "extension";
    const subject = ext ? extSubject(d) : bpSubject(d);
    const detectPath = join(bp.dir, "bin", "detect");
    // Numbered before the first await, so a buildpack's plan folder follows the group's order, not which stat
    // returned first (CNB_BUILD_PLAN_PATH is part of what detect shows, batched or not).
    const planRel = `.berth-detect/${escapeId(d.buildpack.id)}-${this.#seq++}`;
    const st = await stat(detectPath).catch(() => undefined);
    if (!st && ext) {
      // An extension without bin/detect passes, with the plan it ships as detect/plan.toml (if any).
      const text =
        (await new ConfinedTree(bp.dir, { owner: subject, name: "its directory" }).readText(
          "detect/plan.toml",
        )) ?? "";
      try {
        return {
          kind: "done",
          run: {
            code: 0,
            output: "",
            plan: parseBuildPlan(text, join(bp.dir, "detect", "plan.toml"), subject),
          },
        };
      } catch (err) {
        return { kind: "done", run: { code: -1, output: "", error: (err as Error).message } };
      }
    }
    if (!st?.isFile())
      return {
        kind: "done",
        run: { code: -1, output: "", error: `${subject}: ${detectPath} does not exist` },
      };
    if ((st.mode & 0o111) === 0) {
      return {
        kind: "done",
        run: {
          code: -1,
          output: "",
          error: `${subject}: ${detectPath} is not executable (mode ${(st.mode & 0o7777).toString(8)})`,
        },
      };
    }
    const planDir = await layersTree(ex).mkdirs(planRel, undefined, 0o777);
    const planPath = await layersTree(ex).writeFile(`${planRel}/plan.toml`, "", 0o666);
    const cleanup = () => rm(planDir, { recursive: true, force: true });
    try {
      const runPlan = toRunPath(ex, planPath);
      const runDir = toRunPath(ex, bp.dir);
      const env = await this.i.env.withOverrides(
        d.buildpack.clearEnv ? undefined : ex.host.platform,
        ex.host.buildConfig,
      );
      const vars = env.list();
      vars.push(`${ext ? "CNB_EXTENSION_DIR" : "CNB_BUILDPACK_DIR"}=${runDir}`);
      // Buildpack API 0.7 gets these only as its arguments (lc:buildpack/detect.go: the variables came in 0.8).
      if (apiAtLeast(d.api, "0.8"))
        vars.push(`CNB_PLATFORM_DIR=${ex.run.platform}`, `CNB_BUILD_PLAN_PATH=${runPlan}`);
      if (apiAtLeast(d.api, "0.10")) vars.push(...targetEnv(this.i.target));
      if (apiAtLeast(d.api, "0.12") && this.i.execEnv) vars.push(`CNB_EXEC_ENV=${this.i.execEnv}`);
      const chunks: Buffer[] = [];
      const req: ExecRequest = {
        args: [`${runDir}/bin/detect`, ex.run.platform, runPlan],
        env: vars,
        cwd: ex.run.app,
        onStdout: (c) => chunks.push(c),
        onStderr: (c) => chunks.push(c),
        signal: this.i.signal,
      };
      const finish = (result: ExecResult) =>
        this.detectResult(result, Buffer.concat(chunks).toString("utf8"), {
          subject,
          detectPath,
          planDir,
          runPlan,
        });
      return { kind: "exec", req, finish, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }

  /** A finished `bin/detect`'s run: its exit code's meaning, else the plan it wrote (read confined). */
  async detectResult(
    result: ExecResult,
    output: string,
    c: { subject: string; detectPath: string; planDir: string; runPlan: string },
  ): Promise<DetectRun> {
    if (result.exitCode !== 0) {
      const run: DetectRun = { code: result.exitCode, output };
      if (result.exitCode === 126) run.error = `${c.subject}: ${c.detectPath} could not be executed`;
      if (result.exitCode === 127)
        run.error = `${c.subject}: ${c.detectPath} (or its interpreter) was not found`;
      return run;
    }
    // The buildpack may have replaced its plan.toml: read it confined to its plan directory.
    const text =
      (await new ConfinedTree(c.planDir, {
        owner: c.subject,
        name: "its plan directory",
        seenAs: toRunPath(this.i.executor, c.planDir),
      }).readText("plan.toml")) ?? "";
    try {
      return {
        code: 0,
        output,
        plan: parseBuildPlan(text, `${c.runPlan} (written by bin/detect)`, c.subject),
      };
    } catch (err) {
      return { code: -1, output, error: (err as Error).message };
    }
  }

  failures(): DetectFailure[] {
    const out: DetectFailure[] = [];
    for (const [key, run] of this.runs) {
      if (run.code === 0) continue;
      const m = this.tried.get(key)!;
      const f: DetectFailure = {
        id: m.id,
        version: m.version,
        code: run.code,
        output: run.output,
        optional: m.optional,
      };
      if (run.error) f.error = run.error;
      out.push(f);
    }
    return out;
  }
}

/** Run detection; throws `CNB_DETECT_FAILED` (no group passed) or `CNB_DETECT_ERROR` (a buildpack errored). */
export async function detect(i: DetectInputs): Promise<DetectResult> {
  i.logger.info("===> DETECTING");
  const done = timer(i.logger, "Detector");
  const detector = new Detector(i);
  let outcome: Outcome;
  try {
    const head: RefWithGroup[] = i.orderExtensions?.length
      ? [
          {
            ref: { id: "" },
            extOrder: i.orderExtensions.map((g) => ({
              group: g.group.map((r) => ({ ...r, extension: true, optional: true })),
            })),
          },
        ]
      : [];
    outcome = await detector.detectOrder(i.order, [], [], false, head);
  } finally {
    // The runner's container lives for the whole phase (every group's batch); it ends with it.
    if (canExecAll(i.executor)) await i.executor.release();
    await rm(join(i.executor.host.layers, ".berth-detect"), { recursive: true, force: true });
  }
  detector.memory.replay(i.logger, !outcome.ok);
  done();
  if (!outcome.ok) {
    // The lifecycle's words (cmd/lifecycle/detector.go `doDetect`); its exit codes are the CLI's business.
    i.logger.info("ERROR: No buildpack groups passed detection.");
    if (outcome.reason === "fail")
      i.logger.info("ERROR: Please check that you are running against the correct path.");
    const failures = detector.failures();
    const list = failures
      .map(
        (f) =>
          `${bpKey(f.id, f.version)} (${f.code === 100 ? "did not pass" : f.code === -1 ? f.error : `exit status ${f.code}`})`,
      )
      .join(", ");
    if (outcome.reason === "error") {
      throw new BerthError(
        "CNB_DETECT_ERROR",
        `failed to detect: buildpack(s) failed with err: ${list || "none ran"}`,
        {
          details: { failures },
          hint: "the output of each failing bin/detect is shown above",
        },
      );
    }
    throw new BerthError(
      "CNB_DETECT_FAILED",
      `failed to detect: no buildpacks participating${list ? `: ${list}` : ""}`,
      {
        details: { failures },
        hint: "each buildpack's detect output is shown above",
      },
    );
  }
  const element = (m: Member) => ({
    id: m.id,
    version: m.version,
    api: m.api,
    ...(m.homepage ? { homepage: m.homepage } : {}),
  });
  const group = outcome.group.filter((m) => !m.extension).map(element);
  const groupExtensions = outcome.group.filter((m) => m.extension).map(element);
  i.logger.info(`${outcome.group.length} of ${outcome.considered} buildpacks participating`);
  const width = Math.max(...outcome.group.map((g) => g.id.length));
  for (const g of outcome.group) i.logger.info(`${g.id.padEnd(width)} ${g.version}`);
  return {
    group: { group, ...(groupExtensions.length ? { groupExtensions } : {}) },
    plan: { entries: outcome.plan },
    considered: outcome.considered,
  };
}
