/**
 * Go's answers to glob questions: test/helpers/glob-oracle/main.go (path.Match, filepath.Match, moby/patternmatcher
 * and its ignorefile, v0.6.0 as BuildKit v0.26 vendors them), built by scripts/glob-oracle.sh on first use and
 * cached between runs, asked all the questions at once.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

const pexec = promisify(execFile);

export interface Answer {
  match: boolean;
  bad: boolean;
  /** filepath.Match's answer where it differs from path.Match's. */
  filepath?: boolean;
}

/** `pattern`: for "ignorefile", a .dockerignore's text. */
export interface Question {
  dialect: "path" | "patternmatcher" | "ignorefile";
  pattern: string;
  name: string;
}

export async function globOracle(questions: Question[]): Promise<Answer[]> {
  const script = resolve(import.meta.dirname, "../../scripts/glob-oracle.sh");
  const { stdout: built } = await pexec("bash", [script], { timeout: 600_000 });
  const bin = built.trim().split("\n").pop()!;
  const child = execFile(bin, { maxBuffer: 64 * 1024 * 1024 });
  const out = new Promise<string>((res, rej) => {
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.on("error", rej);
    child.on("close", (code) => (code === 0 ? res(text) : rej(new Error(`the glob oracle exited ${code}`))));
  });
  child.stdin!.end(JSON.stringify(questions));
  return JSON.parse(await out) as Answer[];
}
