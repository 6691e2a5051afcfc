/**
 * COPY/ADD `--chmod` as BuildKit v0.26.2's dockerfile2llb reads it: an octal mode (at most 07777), else a symbolic
 * one (`u+x,go-w`, `=rX`, `g=u`: BSD setmode's grammar with umask 0, as the tonistiigi/dchapes-mode port that
 * fsutil's copier applies to each entry's own mode, `X` when the entry is a directory or has an execute bit).
 * Written here because no npm package implements setmode's grammar and its compression of commands, which decide
 * the result of sequences such as `-x,+X`.
 */
import { BerthError } from "../errors.ts";

/** A parsed `--chmod`: `key` stands for it in a step's cache key (the octal value as before, else the text). */
export interface Chmod {
  key: number | string;
  /** The mode (permission, setuid, setgid and sticky bits) an entry gets from its own; `dir`: it is a directory. */
  apply(mode: number, dir: boolean): number;
}

const IS_UID = 0o4000;
const IS_GID = 0o2000;
const IS_TXT = 0o1000;
const RWXU = 0o700;
const RWXG = 0o070;
const RWXO = 0o007;
const R_ALL = 0o444;
const W_ALL = 0o222;
const X_ALL = 0o111;
const STANDARD = IS_UID | IS_GID | RWXU | RWXG | RWXO;
const MASK = 0xffff;
const CLEAR = 1;
const SET = 2;
const G_BITS = 4;
const O_BITS = 8;
const U_BITS = 16;

/** One of setmode's commands: `+`, `-`, `X` on `bits`, or `u`/`g`/`o` copying those bits (`cmd2` says how). */
interface BitCmd {
  cmd: string;
  cmd2: number;
  bits: number;
}

/** `--chmod=TEXT` read as BuildKit reads it; its errors are BuildKit's. */
export function parseChmod(text: string): Chmod {
  const nonOctal = () =>
    new BerthError(
      "DOCKERFILE_SYNTAX",
      `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`,
      { hint: "give an octal mode (755) or a symbolic one (u+x,go-w)" },
    );
  if (/^[0-7]+$/.test(text)) {
    const v = Number.parseInt(text, 8);
    if (v > 0o7777) throw nonOctal();
    return { key: v, apply: () => v };
  }
  // what strconv.ParseUint refused and still looks numeric is the octal error, as dockerfile2llb says it
  if (/^[0-9]/.test(text)) throw nonOctal();
  const cmds = parseSymbolic(text);
  if (!cmds) {
    throw new BerthError("DOCKERFILE_SYNTAX", `--chmod=${text}: invalid syntax`, {
      hint: "give an octal mode (755) or a symbolic one: [ugoa]*[+-=][rwxXst]*, comma-separated (u+x,go-w)",
    });
  }
  return { key: text, apply: (mode, dir) => applyCmds(cmds, mode & 0o7777, dir) };
}

/** setmode's parser (umask 0); undefined for a syntax error. */
function parseSymbolic(text: string): BitCmd[] | undefined {
  const cmds: BitCmd[] = [];
  let s = text;
  let equalOpDone = false;
  for (;;) {
    let who = 0;
    for (;;) {
      const c = s[0];
      if (c === undefined) return undefined;
      if (c === "a") who |= STANDARD;
      else if (c === "u") who |= IS_UID | RWXU;
      else if (c === "g") who |= IS_GID | RWXG;
      else if (c === "o") who |= RWXO;
      else break;
      s = s.slice(1);
    }
    // one or more op-perm runs for this `who` (setmode's `goto getop`)
    for (;;) {
      const op = s[0];
      s = s.slice(1);
      if (op === "=") equalOpDone = false;
      else if (op !== "+" && op !== "-") return undefined;
      who &= ~IS_TXT;
      let perm = 0;
      let permX = 0;
      for (; ; s = s.slice(1)) {
        const b = s[0] ?? "";
        if (b === "r") perm |= R_ALL;
        else if (b === "s") {
          if (who === 0 || (who & ~RWXO) !== 0) perm |= IS_UID | IS_GID;
        } else if (b === "t") {
          if (who === 0 || (who & ~RWXO) !== 0) {
            who |= IS_TXT;
            perm |= IS_TXT;
          }
        } else if (b === "w") perm |= W_ALL;
        else if (b === "X") {
          if (op !== "-") permX = X_ALL;
          else perm |= X_ALL;
        } else if (b === "x") perm |= X_ALL;
        else if (b === "u" || b === "g" || b === "o") {
          if (perm !== 0) {
            addCmd(cmds, op, who, perm);
            perm = 0;
          }
          if (op === "=") equalOpDone = true;
          if (permX !== 0) {
            addCmd(cmds, "X", who, permX);
            permX = 0;
          }
          addCmd(cmds, b, who, op);
        } else {
          if (perm !== 0 || (op === "=" && !equalOpDone)) {
            if (op === "=") equalOpDone = true;
            addCmd(cmds, op, who, perm);
          }
          if (permX !== 0) addCmd(cmds, "X", who, permX);
          break;
        }
      }
      if (s === "" || s[0] === ",") break;
    }
    if (s === "") return compress(cmds);
    s = s.slice(1);
  }
}

/** setmode's addcmd: `=` is a clear of `who`'s bits then a `+`; `u`/`g`/`o` copy with `oparg` the operator. */
function addCmd(cmds: BitCmd[], op: string, who: number, oparg: number | string): void {
  if (op === "=") {
    cmds.push({ cmd: "-", cmd2: 0, bits: who !== 0 ? who : STANDARD });
    op = "+";
  }
  if (op === "+" || op === "-" || op === "X") {
    const arg = oparg as number;
    cmds.push({ cmd: op, cmd2: 0, bits: who !== 0 ? who & arg : MASK & arg });
    return;
  }
  // a copy's target bits: `who`'s classes, or all three (its bits are all, umask 0)
  let cmd2 = who === 0 ? U_BITS | G_BITS | O_BITS : 0;
  if (who & 0o400) cmd2 |= U_BITS;
  if (who & 0o040) cmd2 |= G_BITS;
  if (who & 0o004) cmd2 |= O_BITS;
  if (oparg === "+") cmd2 |= SET;
  else if (oparg === "-") cmd2 |= CLEAR;
  else if (oparg === "=") cmd2 |= SET | CLEAR;
  cmds.push({ cmd: op, cmd2, bits: MASK });
}

/** setmode's compress: each run of `+`, `-` and `X` commands folded into one clear, one set and one X. */
function compress(cmds: BitCmd[]): BitCmd[] {
  const out: BitCmd[] = [];
  for (let i = 0; i < cmds.length; i++) {
    if (!"+-X".includes(cmds[i]!.cmd)) {
      out.push(cmds[i]!);
      continue;
    }
    let set = 0;
    let clr = 0;
    let x = 0;
    for (; i < cmds.length; i++) {
      const c = cmds[i]!;
      if (c.cmd === "-") {
        clr |= c.bits;
        set &= ~c.bits;
        x &= ~c.bits;
      } else if (c.cmd === "+") {
        set |= c.bits;
        clr &= ~c.bits;
        x &= ~c.bits;
      } else if (c.cmd === "X") x |= c.bits & ~set;
      else {
        i--;
        break;
      }
    }
    if (clr) out.push({ cmd: "-", cmd2: 0, bits: clr });
    if (set) out.push({ cmd: "+", cmd2: 0, bits: set });
    if (x) out.push({ cmd: "X", cmd2: 0, bits: x });
  }
  return out;
}

/** setmode's getmode: the commands applied to `old` (`X` looks at `old`'s execute bits, or at `dir`). */
function applyCmds(cmds: readonly BitCmd[], old: number, dir: boolean): number {
  let mode = old;
  const copy = (c: BitCmd, value: number) => {
    if (c.cmd2 & CLEAR) {
      const clr = c.cmd2 & SET ? RWXO : value;
      if (c.cmd2 & U_BITS) mode &= ~((clr << 6) & c.bits);
      if (c.cmd2 & G_BITS) mode &= ~((clr << 3) & c.bits);
      if (c.cmd2 & O_BITS) mode &= ~(clr & c.bits);
    }
    if (c.cmd2 & SET) {
      if (c.cmd2 & U_BITS) mode |= (value << 6) & c.bits;
      if (c.cmd2 & G_BITS) mode |= (value << 3) & c.bits;
      if (c.cmd2 & O_BITS) mode |= value & c.bits;
    }
  };
  for (const c of cmds) {
    if (c.cmd === "u") copy(c, (mode & RWXU) >> 6);
    else if (c.cmd === "g") copy(c, (mode & RWXG) >> 3);
    else if (c.cmd === "o") copy(c, mode & RWXO);
    else if (c.cmd === "+") mode |= c.bits;
    else if (c.cmd === "-") mode &= ~c.bits;
    else if (c.cmd === "X" && ((old & X_ALL) !== 0 || dir)) mode |= c.bits;
  }
  return mode & 0o7777;
}
