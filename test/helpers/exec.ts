import { execFile } from "node:child_process";
import { promisify } from "node:util";

const pexec = promisify(execFile);

/** Run a host tool (umoci, skopeo, tar…) and return its stdout; throws with its stderr on failure. */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string | undefined; env?: NodeJS.ProcessEnv | undefined } = {},
): Promise<string> {
  try {
    const { stdout } = await pexec(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...options });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}
