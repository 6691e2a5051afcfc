import { fromEnvironment, type HostOptions } from "../api/host.ts";
import type { TransportContext } from "../transport/context.ts";
import type { Output } from "./output.ts";

export { berthHome } from "../api/host.ts";

/** Everything a command needs from the process, gathered in one place. */
export interface Cli {
  ctx: TransportContext;
  out: Output;
  env: Record<string, string | undefined>;
  cwd: string;
  /** This process's effective user and group (0: root). */
  uid: number;
  gid: number;
  /** Which of the standard streams are terminals. */
  terminal: { stdin: boolean; stdout: boolean; stderr: boolean };
  stdin: () => NodeJS.ReadableStream;
  /** The exit code when the command succeeds but must still exit non-zero (a container's own code). */
  setExitCode: (code: number) => void;
}

/**
 * The library's host options for a command: the environment's (fromEnvironment: BERTH_RUNTIME, PATH,
 * SOURCE_DATE_EPOCH with `epoch`), this process's user, and the transport context the global flags made.
 * `runtime` is the command's `--runtime`, over $BERTH_RUNTIME.
 */
export function hostOptions(c: Cli, o: { runtime?: string | undefined; epoch?: boolean } = {}): HostOptions {
  // SOURCE_DATE_EPOCH is read (and a bad one refused) only by the commands that use it
  const env = o.epoch ? c.env : { ...c.env, SOURCE_DATE_EPOCH: undefined };
  const h = { ...fromEnvironment(env, { cwd: c.cwd, uid: c.uid, gid: c.gid }), hostEnv: c.env };
  return {
    ...h,
    home: c.ctx.home,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    ...(c.ctx.insecureRegistries ? { insecureRegistries: c.ctx.insecureRegistries } : {}),
    ...(c.ctx.caCert ? { caCert: c.ctx.caCert } : {}),
    ...(c.ctx.jobs ? { jobs: c.ctx.jobs } : {}),
    ...(c.ctx.logger ? { diagnostics: c.ctx.logger } : {}),
    ...(c.ctx.progress ? { progress: c.ctx.progress } : {}),
    // the command's registry client: main.ts ends it when the command does
    ...(c.ctx.shared ? { shared: c.ctx.shared } : {}),
  };
}
