/**
 * A Go test oracle asked once: scripts/NAME.sh builds it on first use (cached between runs) and prints its path;
 * the program reads `input` on stdin and answers on stdout. A non-zero exit rejects with its stderr.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

const pexec = promisify(execFile);

export async function askGoOracle(name: string, input: string): Promise<string> {
  const script = resolve(import.meta.dirname, `../../scripts/${name}.sh`);
  const { stdout: built } = await pexec("bash", [script], { timeout: 600_000 });
  const bin = built.trim().split("\n").pop()!;
  const child = execFile(bin, { maxBuffer: 64 * 1024 * 1024 });
  const out = new Promise<string>((res, rej) => {
    let text = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", rej);
    child.on("close", (code) =>
      code === 0 ? res(text) : rej(new Error(`${name}: exit ${code}: ${err.trim()}`)),
    );
  });
  child.stdin!.end(input);
  return out;
}
