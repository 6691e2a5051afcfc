/**
 * `--chmod` (src/dockerfile/chmod.ts): octal as BuildKit's dockerfile2llb takes it, symbolic modes as BSD setmode
 * (umask 0) applies them, checked against the system's own chmod(1) run with umask 0 on real files and
 * directories (where GNU's differs, `X` after a change in one command and `o+t`, BSD's answer is written out), and
 * BuildKit's errors.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseChmod } from "../../src/dockerfile/chmod.ts";
import { tempDir } from "../helpers/temp.ts";

describe("parseChmod", () => {
  it("applies a symbolic mode as chmod(1) with umask 0 does, to files and directories", async () => {
    const dir = await tempDir();
    const modes = [
      "+x",
      "u+x",
      "u+x,go=r",
      "a-w",
      "=rX",
      "u=rwX,go=rX",
      "go-rwx",
      "g=u",
      "o=g",
      "u-x,g+X",
      "a=",
      "ug+rw,o-rwx",
      "u=rw,g=r,o=",
      "+t",
      "u+s",
      "g+s",
      "o+s",
      "g=u-w",
      "u+r-w+x",
    ];
    const starts = [0o644, 0o755, 0o600, 0o711, 0o4750, 0o000];
    let n = 0;
    for (const m of modes) {
      for (const start of starts) {
        for (const isDir of [false, true]) {
          const p = join(dir, `e${n++}`);
          if (isDir) await mkdir(p);
          else await writeFile(p, "");
          await chmod(p, start);
          // chmod(1) keeps a directory's setuid/setgid bits unless the mode names them: start without them there
          if (isDir && start & 0o6000) continue;
          execFileSync("sh", ["-c", `umask 0 && chmod -- "$1" "$2"`, "sh", m, p]);
          const want = (await stat(p)).mode & 0o7777;
          expect(
            `${m} ${start.toString(8)} ${isDir ? "dir" : "file"} ${parseChmod(m).apply(start, isDir).toString(8)}`,
          ).toBe(`${m} ${start.toString(8)} ${isDir ? "dir" : "file"} ${want.toString(8)}`);
        }
      }
    }
  });

  it("X looks at the entry's mode before the command, as BSD setmode (and BuildKit's port of it), where GNU chmod looks at the mode so far", () => {
    expect(parseChmod("-x,+X").apply(0o755, false)).toBe(0o755);
    expect(parseChmod("-x,+X").apply(0o644, false)).toBe(0o644);
    expect(parseChmod("-x,+X").apply(0o644, true)).toBe(0o755);
    // and `t` for o alone is nothing there (GNU's chmod sets the sticky bit)
    expect(parseChmod("g+s,o+t").apply(0o644, false)).toBe(0o2644);
  });

  it("takes octal as strconv.ParseUint(8) does and refuses as dockerfile2llb refuses", () => {
    expect(parseChmod("755").apply(0o600, false)).toBe(0o755);
    expect(parseChmod("4755").apply(0, true)).toBe(0o4755);
    expect(parseChmod("7").key).toBe(7);
    expect(parseChmod("u+x").key).toBe("u+x");
    expect(() => parseChmod("17777")).toThrow(
      "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777",
    );
    expect(() => parseChmod("8")).toThrow("invalid chmod parameter: '8'");
    expect(() => parseChmod("u+q")).toThrow("--chmod=u+q: invalid syntax");
    expect(() => parseChmod("u+x,")).toThrow("invalid syntax");
    expect(() => parseChmod("")).toThrow("invalid syntax");
  });
});
