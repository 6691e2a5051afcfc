/**
 * skopeo copy's per-side registry flags (`--src-creds`, `--dest-tls-verify=false`, `--authfile`, …) as the
 * transport context of each side of `berth copy`: its own registry client, credentials, CAs and insecure hosts.
 */

import { resolve } from "node:path";
import type { Command } from "commander";
import { BerthError } from "../errors.ts";
import { parseReference } from "../oci/reference.ts";
import type { Credential } from "../registry/credentials.ts";
import type { RegistryAccess, TransportContext } from "../transport/context.ts";
import type { CopySides } from "../transport/copy.ts";
import type { ImageArgument } from "../transport/parse.ts";
import { goBool as parseGoBool } from "../util/go-json.ts";

type Side = "src" | "dest";

/** What commander hands over for one side's flags (`srcCreds`, `destTlsVerify`, …), read by name. */
type Flags = Record<string, string | boolean | undefined>;

/** Add both sides' flags, and the shared `--authfile`, to the copy command. */
export function addSideOptions(command: Command): Command {
  command.option("--authfile <path>", "the auth file (containers-auth.json) of both sides");
  for (const [side, what] of [
    ["src", "the source"],
    ["dest", "the destination"],
  ] as const) {
    command
      .option(`--${side}-creds <user:password>`, `credentials for ${what} registry`)
      .option(`--${side}-username <user>`, `user name for ${what} registry`)
      .option(`--${side}-password <password>`, `password for ${what} registry`)
      .option(`--${side}-registry-token <token>`, `a Bearer token for ${what} registry`)
      .option(`--${side}-no-creds`, `reach ${what} registry anonymously`)
      .option(`--${side}-authfile <path>`, `the auth file of ${what} (instead of --authfile)`)
      .option(`--${side}-cert-dir <dir>`, `*.crt CAs and a *.cert/*.key client pair for ${what} registry`)
      .option(
        `--${side}-tls-verify [bool]`,
        `=false: reach ${what} registry without checking its certificate (or over HTTP)`,
      );
  }
  return command;
}

/** Go's strconv.ParseBool, as skopeo reads `--src-tls-verify=VALUE`. */
function goBool(value: string | boolean | undefined, flag: string): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  const b = parseGoBool(value);
  if (b !== undefined) return b;
  throw new BerthError("USAGE", `${flag} takes true or false, not ${JSON.stringify(value)}`);
}

function text(flags: Flags, key: string): string | undefined {
  const v = flags[key];
  return typeof v === "string" ? v : undefined;
}

/** `USER[:PASSWORD]` of `--src-creds`; skopeo asks for a missing password on a terminal, berth wants it given. */
function parseCreds(value: string, flag: string): Credential {
  const i = value.indexOf(":");
  if (i < 0) {
    throw new BerthError("USAGE", `${flag} gives a user name and no password`, {
      hint: `give ${flag} USER:PASSWORD`,
    });
  }
  if (i === 0) throw new BerthError("USAGE", `${flag} gives no user name before the ":"`);
  return { kind: "basic", username: value.slice(0, i), password: value.slice(i + 1) };
}

/** The credential one side's flags give, if any; never quotes a secret. */
function sideCredential(flags: Flags, side: Side): Credential | "anonymous" | undefined {
  const key = side === "src" ? "src" : "dest";
  const creds = text(flags, `${key}Creds`);
  const username = text(flags, `${key}Username`);
  const password = text(flags, `${key}Password`);
  const token = text(flags, `${key}RegistryToken`);
  const none = flags[`${key}NoCreds`] === true;
  const given = [
    creds !== undefined && `--${side}-creds`,
    (username ?? password) !== undefined && `--${side}-username/--${side}-password`,
    token !== undefined && `--${side}-registry-token`,
    none && `--${side}-no-creds`,
  ].filter((g): g is string => typeof g === "string");
  if (given.length > 1) throw new BerthError("USAGE", `${given.join(" and ")} cannot be used together`);
  if (none) return "anonymous";
  if (creds !== undefined) return parseCreds(creds, `--${side}-creds`);
  if (token !== undefined) return { kind: "registryToken", token };
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined)
    throw new BerthError("USAGE", `--${side}-username and --${side}-password must be given together`);
  return { kind: "basic", username, password };
}

/**
 * One side's context: the command's own when the side's flags change nothing (so that a copy within one
 * registry keeps one client: one TLS handshake, one token cache), else one with a registry client of its own
 * (closed by the caller with `closeContext`).
 */
function sideContext(
  ctx: TransportContext,
  flags: Flags,
  side: Side,
  arg: ImageArgument,
  cwd: string,
  retry: RegistryAccess["retry"],
): TransportContext {
  const authFile = text(flags, `${side}Authfile`) ?? text(flags, "authfile");
  const certDir = text(flags, `${side}CertDir`);
  const access: RegistryAccess = {
    credential: sideCredential(flags, side),
    authFile: authFile === undefined ? undefined : resolve(cwd, authFile),
    certDir: certDir === undefined ? undefined : resolve(cwd, certDir),
    retry,
  };
  const insecure = [...(ctx.insecureRegistries ?? [])];
  const verify = goBool(flags[`${side}TlsVerify`], `--${side}-tls-verify`);
  if (verify !== undefined && arg.transport === "docker") {
    const { registry } = parseReference(arg.ref);
    const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
    if (verify) access.secure = [host];
    else insecure.push(host);
  }
  const same =
    Object.values(access).every((v) => v === undefined) &&
    insecure.length === (ctx.insecureRegistries ?? []).length;
  if (same) return ctx;
  return { ...ctx, shared: {}, registryAccess: access, insecureRegistries: insecure };
}

/** The context of each side of a copy, from skopeo's flags; one context when both sides' flags agree. */
export function copySides(
  ctx: TransportContext,
  flags: Flags,
  src: ImageArgument,
  dst: ImageArgument,
  cwd: string,
  retry?: RegistryAccess["retry"],
): CopySides {
  const source = sideContext(ctx, flags, "src", src, cwd, retry);
  const destination = sideContext(ctx, flags, "dest", dst, cwd, retry);
  const key = (c: TransportContext) => JSON.stringify([c.registryAccess, c.insecureRegistries]);
  return { source, destination: key(source) === key(destination) ? source : destination };
}
