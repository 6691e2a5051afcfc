/**
 * Foreign-architecture containers: a linux/arm64 RUN step or `berth run` on an amd64 machine executes its
 * binaries through qemu-user-static, which the kernel starts for them by binfmt_misc. The registration is
 * Debian's own (qemu-user-static's /usr/share/binfmts/qemu-NAME: magic, mask, offset, interpreter, flags, read
 * from that file, never written down here) and must carry the F (fix binary) flag: the kernel then opens the
 * interpreter when it is registered, so it works inside a container's mount namespace, where the host's
 * /usr/libexec/qemu-binfmt does not exist. When the entry is missing and berth is root, berth registers it (and
 * mounts binfmt_misc when it is not), once, saying so: a host-wide change made only when a foreign step needs
 * it. Otherwise one sentence says what is missing.
 */
import { execFile } from "node:child_process";
import { access, readFile, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import { formatPlatform, hostPlatform, type Platform } from "../oci/platform.ts";

export interface EmulationOptions {
  /** Debian's binfmt definitions (default /usr/share/binfmts, where qemu-user-static puts them). */
  definitions?: string | undefined;
  /** The binfmt_misc file system (default /proc/sys/fs/binfmt_misc). */
  binfmtMisc?: string | undefined;
  /** Whether berth may register a missing entry (default: when running as root). */
  mayRegister?: boolean | undefined;
  /** Told once per entry berth registers (the host-wide change). */
  log?: ((line: string) => void) | undefined;
}

/** qemu's names of Go's architectures (Debian's definition files are qemu-NAME). */
const QEMU_ARCH: Record<string, string> = {
  amd64: "x86_64",
  "386": "i386",
  arm64: "aarch64",
  arm: "arm",
  ppc64le: "ppc64le",
  ppc64: "ppc64",
  s390x: "s390x",
  riscv64: "riscv64",
  mips: "mips",
  mipsle: "mipsel",
  mips64: "mips64",
  mips64le: "mips64el",
  loong64: "loongarch64",
};

/** Architectures a machine runs without emulation besides its own. */
const NATIVE_TOO: Record<string, string[]> = { amd64: ["386"], arm64: ["arm"] };

/** Entries found usable in this process (by binfmt_misc folder and name): checked once. */
const ready = new Map<string, Promise<void>>();

/** Whether a container of this platform needs emulation on this machine. */
export function isForeign(platform: Platform): boolean {
  const host = hostPlatform();
  if (platform.os !== host.os) return false;
  return (
    platform.architecture !== host.architecture &&
    !NATIVE_TOO[host.architecture]?.includes(platform.architecture)
  );
}

/**
 * Make sure binaries of `platform` run here: nothing for the machine's own architecture; otherwise the
 * binfmt_misc entry qemu-NAME is enabled with the F flag, registered from Debian's definition when missing (as
 * root), or an EMULATION_UNAVAILABLE error says what is missing.
 */
export function ensureEmulation(platform: Platform, o: EmulationOptions = {}): Promise<void> {
  if (!isForeign(platform)) return Promise.resolve();
  const misc = o.binfmtMisc ?? "/proc/sys/fs/binfmt_misc";
  const qemu = QEMU_ARCH[platform.architecture];
  if (!qemu) {
    return Promise.reject(
      unavailable(platform, `berth knows no qemu emulator for the architecture ${platform.architecture}`),
    );
  }
  const key = `${misc}\0${o.definitions ?? ""}\0${qemu}`;
  let p = ready.get(key);
  if (!p) {
    p = prepare(platform, `qemu-${qemu}`, misc, o);
    ready.set(key, p);
    p.catch(() => ready.delete(key));
  }
  return p;
}

function unavailable(platform: Platform, why: string, hint?: string): BerthError {
  return new BerthError(
    "EMULATION_UNAVAILABLE",
    `cannot run ${formatPlatform(platform)} binaries on this ${hostPlatform().architecture} machine: ${why}`,
    {
      hint: `${hint ? `${hint}; ` : ""}or build and run for this machine's platform (--platform ${formatPlatform(hostPlatform())})`,
    },
  );
}

async function prepare(platform: Platform, name: string, misc: string, o: EmulationOptions): Promise<void> {
  const entry = await readEntry(join(misc, name));
  if (entry) return checkEntry(platform, name, misc, entry);
  const defsDir = o.definitions ?? "/usr/share/binfmts";
  const defFile = join(defsDir, name);
  const def = await readDefinition(defFile);
  const install = "apt-get install qemu-user-static";
  if (!def) {
    throw unavailable(platform, `qemu-user-static is not installed (there is no ${defFile})`, install);
  }
  if (!(await exists(def.interpreter))) {
    throw unavailable(
      platform,
      `${defFile} names the interpreter ${def.interpreter}, which does not exist`,
      `reinstall it: ${install}`,
    );
  }
  const register = join(misc, "register");
  const mounted = await exists(register);
  const mount = `mount -t binfmt_misc binfmt_misc ${misc}`;
  if (!(o.mayRegister ?? userInfo().uid === 0)) {
    throw unavailable(
      platform,
      `the binfmt_misc entry ${name} is not registered${mounted ? "" : ` (binfmt_misc is not mounted at ${misc})`}, and registering it needs root`,
      `ask the machine's admin to run ${mounted ? "" : `${mount}, then `}update-binfmts --enable ${name} (it needs the F flag, "fix_binary yes" in ${defFile})`,
    );
  }
  if (!mounted) {
    await promisify(execFile)("mount", ["-t", "binfmt_misc", "binfmt_misc", misc]).catch((err: unknown) => {
      throw unavailable(
        platform,
        `binfmt_misc is not mounted at ${misc} and mounting it failed (${(err as Error).message.trim()})`,
        mount,
      );
    });
  }
  const again = await readEntry(join(misc, name));
  if (again) return checkEntry(platform, name, misc, again);
  // :name:type:offset:magic:mask:interpreter:flags (the kernel's binfmt-misc.rst); the magic and mask keep
  // the file's \x escapes, which the kernel decodes.
  const flags = `F${def.preserve ? "P" : ""}${def.credentials ? "C" : ""}`;
  const line = `:${name}:M:${def.offset}:${def.magic}:${def.mask}:${def.interpreter}:${flags}`;
  o.log?.(
    `Registering ${name} with binfmt_misc (host-wide, flags ${flags}, from ${defFile}) to run ${formatPlatform(platform)} binaries under ${def.interpreter}`,
  );
  try {
    await writeFile(register, line);
  } catch (err) {
    // another process may have registered it meanwhile
    const now = await readEntry(join(misc, name));
    if (now) return checkEntry(platform, name, misc, now);
    throw unavailable(
      platform,
      `registering ${name} in ${register} failed (${(err as Error).message})`,
      `update-binfmts --enable ${name}`,
    );
  }
}

interface Entry {
  enabled: boolean;
  flags: string;
}

async function readEntry(path: string): Promise<Entry | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  const lines = text.split("\n");
  return {
    enabled: lines[0] === "enabled",
    flags:
      lines
        .find((l) => l.startsWith("flags:"))
        ?.slice("flags:".length)
        .trim() ?? "",
  };
}

function checkEntry(platform: Platform, name: string, misc: string, e: Entry): void {
  const path = join(misc, name);
  if (!e.enabled) {
    throw unavailable(platform, `the binfmt_misc entry ${path} is disabled`, `echo 1 > ${path}`);
  }
  if (!e.flags.includes("F")) {
    throw unavailable(
      platform,
      `the binfmt_misc entry ${path} lacks the F (fix binary) flag, so containers cannot open its interpreter`,
      `remove it (echo -1 > ${path}) and let berth register it as root, or re-register it with the F flag`,
    );
  }
}

interface Definition {
  interpreter: string;
  magic: string;
  mask: string;
  offset: string;
  preserve: boolean;
  credentials: boolean;
}

/** Debian's binfmt-support format (update-binfmts(8)): `key value` lines. */
async function readDefinition(path: string): Promise<Definition | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  const kv = new Map<string, string>();
  for (const l of text.split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(l.trim());
    if (m) kv.set(m[1]!, m[2]!);
  }
  const need = (k: string): string => {
    const v = kv.get(k);
    if (!v || v.includes(":")) {
      throw new BerthError("EMULATION_UNAVAILABLE", `${path}: the field ${k} is missing or holds a colon`, {
        hint: "reinstall qemu-user-static",
      });
    }
    return v;
  };
  return {
    interpreter: need("interpreter"),
    magic: need("magic"),
    mask: kv.has("mask") ? need("mask") : "",
    offset: kv.get("offset") ?? "0",
    preserve: kv.get("preserve") === "yes",
    credentials: kv.get("credentials") === "yes",
  };
}

/** A file's text; undefined when it cannot be read (absent: nothing registered or installed). */
function readText(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * The options from an environment: BERTH_QEMU_BINFMTS (the definitions' folder) and BERTH_BINFMT_MISC (the
 * binfmt_misc mount), which the tests point at empty folders to see the sentence a machine without qemu gets.
 */
export function emulationOptions(
  env: Record<string, string | undefined>,
  log: ((line: string) => void) | undefined,
): EmulationOptions {
  return { definitions: env.BERTH_QEMU_BINFMTS, binfmtMisc: env.BERTH_BINFMT_MISC, log };
}
