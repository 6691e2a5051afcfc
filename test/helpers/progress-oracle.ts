/**
 * BuildKit's reading of a `--progress rawjson` stream: test/helpers/progress-oracle/main.go (client.SolveStatus
 * decoded with unknown fields refused, Go's encoding of it compared with each line, the updates replayed through
 * progressui's plain display of BuildKit v0.26.2), built by scripts/progress-oracle.sh on first use and cached
 * between runs.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

const pexec = promisify(execFile);

export interface Replay {
  /** The plain display's output. */
  plain: string;
  /** The oracle's complaint (a line that does not decode or round-trip), empty when it took the stream. */
  error: string;
  code: number;
}

/** Replay `stream` (the JSON lines of a build's stderr) through BuildKit's plain display. */
export async function replayProgress(stream: string): Promise<Replay> {
  const script = resolve(import.meta.dirname, "../../scripts/progress-oracle.sh");
  const { stdout: built } = await pexec("bash", [script], { timeout: 600_000 });
  const bin = built.trim().split("\n").pop()!;
  const child = execFile(bin, { maxBuffer: 64 * 1024 * 1024 });
  const plain: string[] = [];
  const error: string[] = [];
  child.stdout!.on("data", (d: Buffer) => plain.push(d.toString()));
  child.stderr!.on("data", (d: Buffer) => error.push(d.toString()));
  const code = new Promise<number>((res, rej) => {
    child.on("error", rej);
    child.on("close", (c) => res(c ?? -1));
  });
  child.stdin!.end(stream);
  return { code: await code, plain: plain.join(""), error: error.join("") };
}
