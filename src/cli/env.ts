import { homedir } from "node:os";
import { join } from "node:path";
import type { TransportContext } from "../transport/context.ts";
import type { Output } from "./output.ts";

/** Everything a command needs from the process, gathered in one place. */
export interface Cli {
  ctx: TransportContext;
  out: Output;
  env: Record<string, string | undefined>;
  cwd: string;
  stdin: () => NodeJS.ReadableStream;
  /** The exit code when the command succeeds but must still exit non-zero (a container's own code). */
  setExitCode: (code: number) => void;
}

/** BERTH_HOME, else ${XDG_DATA_HOME:-~/.local/share}/berth. */
export function berthHome(env: Record<string, string | undefined>): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(data, "berth");
}
