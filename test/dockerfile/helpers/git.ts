/** A git repository with two commits and a tag, served by `git daemon` on 127.0.0.1 (ADD of a git source). */
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { run } from "../../helpers/exec.ts";

export interface GitServer {
  /** git://127.0.0.1:PORT/repo.git */
  url: string;
  /** The commits of tag v1 (hello.txt "v1\n") and of main's HEAD (hello.txt "v2\n"). */
  v1: string;
  head: string;
  close(): void;
}

/** Make `<base>/repo.git` (tag v1, an annotated tag v1-note on it, then a second commit on main) and serve it. */
export async function serveGitRepo(base: string): Promise<GitServer> {
  const repo = join(base, "repo.git");
  const g = (args: string[]) =>
    run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
  await mkdir(repo, { recursive: true });
  await g(["init", "-q", "-b", "main"]);
  await writeFile(join(repo, "hello.txt"), "v1\n");
  await g(["add", "hello.txt"]);
  await g(["commit", "-q", "-m", "one"]);
  await g(["tag", "v1"]);
  await g(["tag", "-a", "-m", "note", "v1-note"]);
  await writeFile(join(repo, "hello.txt"), "v2\n");
  await g(["commit", "-q", "-am", "two"]);
  const v1 = (await g(["rev-parse", "v1"])).trim();
  const head = (await g(["rev-parse", "HEAD"])).trim();
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const daemon = spawn(
    "git",
    ["daemon", "--reuseaddr", "--export-all", `--base-path=${base}`, "--listen=127.0.0.1", `--port=${port}`],
    { stdio: "ignore" },
  );
  const url = `git://127.0.0.1:${port}/repo.git`;
  for (let i = 0; ; i++) {
    try {
      await run("git", ["ls-remote", url]);
      break;
    } catch (err) {
      if (i > 100) {
        daemon.kill();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, v1, head, close: () => daemon.kill() };
}
