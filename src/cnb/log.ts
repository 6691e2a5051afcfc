import { formatDuration } from "../util/progress.ts";

/** How phases talk: pack's lines through a logger the caller provides (the CLI maps it to stderr/--quiet/--verbose). */
export interface PhaseLogger {
  /** Normal lines (`===> DETECTING`, `2 of 3 buildpacks participating`). */
  info(line: string): void;
  warn(line: string): void;
  /** Shown with --verbose: timings, skipped buildpacks, detect output of passing buildpacks. */
  debug(line: string): void;
  /** A buildpack's output as it comes (bin/build); absent: dropped. */
  output?(chunk: Buffer, stream: "stdout" | "stderr"): void;
}

export const silentLogger: PhaseLogger = { info() {}, warn() {}, debug() {} };

/**
 * Run one phase of a build and say how long it took when it ends (`Analyze done in 0.4 s`), so a slow
 * build shows where its time went (README: "Progress").
 */
export async function timedPhase<T>(log: PhaseLogger, name: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  const r = await fn();
  log.info(`${name} done in ${formatDuration(Date.now() - start)}`);
  return r;
}

/** `Timer: Detector ran for 1.23s and ended at …`, the lifecycle's --verbose timing line. */
export function timer(log: PhaseLogger, name: string): () => void {
  const start = Date.now();
  log.debug(`Timer: ${name} started at ${new Date(start).toISOString()}`);
  return () => {
    const end = Date.now();
    log.debug(
      `Timer: ${name} ran for ${((end - start) / 1000).toFixed(3)}s and ended at ${new Date(end).toISOString()}`,
    );
  };
}
