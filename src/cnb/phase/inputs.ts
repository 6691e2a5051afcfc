import type { Env } from "../buildpack/env.ts";
import type { BuildpackStore } from "../buildpack/store.ts";
import type { Executor } from "../executor.ts";
import type { PhaseLogger } from "../log.ts";
import type { TargetData } from "../platform/target.ts";

/** What the detect and build phases both run with. */
export interface PhaseInputs {
  store: BuildpackStore;
  executor: Executor;
  /** The lifecycle's own environment, already filtered (`Env.forBuild`); it is not changed. */
  env: Env;
  target: TargetData;
  /** Platform API the phase implements; targets are checked from 0.12 on. */
  platformApi: string;
  /** CNB_EXEC_ENV, if any. */
  execEnv?: string;
  logger: PhaseLogger;
  signal?: AbortSignal | undefined;
}
