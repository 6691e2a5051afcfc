/**
 * Where registry credentials come from, in ggcr's keychain order: docker's config.json (auths, credHelpers,
 * credsStore through docker-credential-* helpers), then REGISTRY_AUTH_FILE, then containers' auth.json files.
 * Nothing here logs a secret; errors name files and helpers, never their contents.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BerthError } from "../errors.ts";

export type Credential =
  | { kind: "basic"; username: string; password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`, or a helper's `<token>` user). */
  | { kind: "identityToken"; token: string; username?: string }
  /** A bearer token sent as is (`registrytoken`). */
  | { kind: "registryToken"; token: string };

export type Env = Record<string, string | undefined>;

export interface KeychainOptions {
  /** The environment: DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH (for helpers). */
  env?: Env;
  /**
   * An auth file named by the user (skopeo's `--authfile`, containers-auth.json: docker's `auths`), searched
   * before everything else; one that is not there holds nothing (as skopeo's).
   */
  authFile?: string | undefined;
}

export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";
const HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: Env = {}): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  if (env.HOME) return join(env.HOME, ".docker", "config.json");
  return undefined;
}

/** The files searched after docker's, in order. */
export function containersAuthPaths(env: Env = {}): string[] {
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  if (env.HOME) out.push(join(env.HOME, ".config", "containers", "auth.json"));
  return out;
}

/** The key a registry has in config files and the server URL given to helpers. */
export function serverKey(registry: string): string {
  return HUB_ALIASES.has(registry) ? DOCKER_HUB_KEY : registry;
}

/** `https://host:5000/v1/` → `host:5000`, for comparing config keys to a registry. */
function normalizeKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, "");
  const slash = k.indexOf("/");
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return HUB_ALIASES.has(k) ? "docker.io" : k;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [extra: string]: unknown;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new BerthError("REGISTRY_CREDENTIALS", `reading ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not a JSON object");
    return doc as ConfigFile;
  } catch (err) {
    // The parser's message may quote the file's text; say only where it failed.
    throw new BerthError("REGISTRY_CREDENTIALS", `${path} is not a valid JSON credentials file`, {
      hint: "fix or remove the file",
      details: { reason: (err as Error).name },
    });
  }
}

function matchKey<T>(map: Record<string, T> | undefined, registry: string): T | undefined {
  if (!map) return undefined;
  const want = normalizeKey(registry);
  if (map[serverKey(registry)] !== undefined) return map[serverKey(registry)];
  for (const [k, v] of Object.entries(map)) if (normalizeKey(k) === want) return v;
  return undefined;
}

function fromEntry(entry: AuthEntry, path: string): Credential | undefined {
  if (entry.registrytoken) return { kind: "registryToken", token: entry.registrytoken };
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new BerthError(
        "REGISTRY_CREDENTIALS",
        `an "auth" entry in ${path} is not base64 of user:password`,
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (entry.identitytoken) {
    const c: Credential = { kind: "identityToken", token: entry.identitytoken };
    if (username) c.username = username;
    return c;
  }
  if (username !== undefined && password !== undefined && (username !== "" || password !== "")) {
    return { kind: "basic", username, password };
  }
  return undefined;
}

export interface HelperResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `docker-credential-<name> <verb>` with `input` on stdin, found on env.PATH. */
function runHelper(name: string, verb: string, input: string, env: Env = {}): Promise<HelperResult> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    return Promise.reject(
      new BerthError("REGISTRY_CREDENTIALS", `credential helper name ${JSON.stringify(name)} is invalid`),
    );
  }
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
    const child = spawn(program, [verb], { env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) =>
      reject(
        new BerthError(
          "REGISTRY_CREDENTIALS",
          `credential helper ${program} could not be run: ${e.message}`,
          {
            cause: e,
            hint: `install ${program} or remove it from the docker config`,
          },
        ),
      ),
    );
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
    child.stdin.on("error", () => {
      // a helper that exits without reading stdin
    });
    child.stdin.end(input);
  });
}

async function fromHelper(helper: string, registry: string, env: Env): Promise<Credential | undefined> {
  const server = serverKey(registry);
  const r = await runHelper(helper, "get", server, env);
  if (r.code !== 0) {
    if (/credentials not found/i.test(r.stdout + r.stderr)) return undefined;
    // The helper's output is not repeated: it could contain a secret.
    throw new BerthError(
      "REGISTRY_CREDENTIALS",
      `credential helper docker-credential-${helper} failed for ${server} (exit ${r.code})`,
    );
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    throw new BerthError(
      "REGISTRY_CREDENTIALS",
      `credential helper docker-credential-${helper} printed something that is not JSON for ${server}`,
    );
  }
  if (typeof doc.Secret !== "string" || doc.Secret === "") return undefined;
  const username = typeof doc.Username === "string" ? doc.Username : "";
  if (username === "<token>") return { kind: "identityToken", token: doc.Secret };
  return { kind: "basic", username, password: doc.Secret };
}

/**
 * `CNB_REGISTRY_AUTH`, as the lifecycle reads it (auth/env_keychain.go): a JSON object of registry →
 * `Authorization` header value (`Basic <base64 user:pass>`, `Bearer <token>`, `X-Identity <refresh token>`).
 * It comes before docker's config, as in the lifecycle's keychain. Errors never quote the value.
 */
export function registryAuthEnv(registry: string, env: Env): Credential | undefined {
  const text = env.CNB_REGISTRY_AUTH;
  if (text === undefined || text.trim() === "") return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new BerthError("REGISTRY_CREDENTIALS", "CNB_REGISTRY_AUTH is not JSON", {
      hint: 'give a JSON object of registry to Authorization header, e.g. {"registry.example.com": "Basic <base64 user:password>"}',
    });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new BerthError(
      "REGISTRY_CREDENTIALS",
      "CNB_REGISTRY_AUTH is not a JSON object of registry to header",
    );
  }
  const want = normalizeKey(registry);
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (normalizeKey(key) !== want) continue;
    const m = typeof value === "string" ? /^\s*(Basic|Bearer|X-Identity)\s+(\S+)\s*$/i.exec(value) : null;
    if (!m) {
      throw new BerthError(
        "REGISTRY_CREDENTIALS",
        `CNB_REGISTRY_AUTH: the value for ${key} is not "Basic …", "Bearer …" or "X-Identity …"`,
      );
    }
    const scheme = m[1]!.toLowerCase();
    const token = m[2]!;
    if (scheme === "bearer") return { kind: "registryToken", token };
    if (scheme === "x-identity") return { kind: "identityToken", token };
    const decoded = Buffer.from(token, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0) {
      throw new BerthError(
        "REGISTRY_CREDENTIALS",
        `CNB_REGISTRY_AUTH: the Basic value for ${key} is not base64 of user:password`,
      );
    }
    return { kind: "basic", username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

/** Find credentials for a registry host (`host[:port]`), or undefined for anonymous access. */
export async function resolveCredential(
  registry: string,
  options: KeychainOptions = {},
): Promise<Credential | undefined> {
  const env = options.env ?? {};
  if (options.authFile !== undefined) {
    // a file that is not there holds no credentials, as for skopeo
    const entry = matchKey((await readConfig(options.authFile))?.auths, registry);
    const c = entry && fromEntry(entry, options.authFile);
    if (c) return c;
  }
  const fromEnv = registryAuthEnv(registry, env);
  if (fromEnv) return fromEnv;
  const dockerPath = dockerConfigPath(env);
  if (dockerPath) {
    const config = await readConfig(dockerPath);
    if (config) {
      const helper = matchKey(config.credHelpers, registry) ?? config.credsStore;
      if (helper) {
        const c = await fromHelper(helper, registry, env);
        if (c) return c;
      }
      const entry = matchKey(config.auths, registry);
      if (entry) {
        const c = fromEntry(entry, dockerPath);
        if (c) return c;
      }
    }
  }
  for (const path of containersAuthPaths(env)) {
    const config = await readConfig(path);
    const entry = matchKey(config?.auths, registry);
    if (entry) {
      const c = fromEntry(entry, path);
      if (c) return c;
    }
  }
  return undefined;
}

async function writeAtomic(path: string, doc: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.config.json.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(doc, null, "\t")}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new BerthError("REGISTRY_CREDENTIALS", `writing ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Store credentials for a registry where docker would: its credential helper when config.json names one for
 * this registry (or a credsStore), else base64 in `auths` of config.json, written atomically with mode 0600.
 * Returns where they went.
 */
export async function storeCredential(
  registry: string,
  username: string,
  password: string,
  options: KeychainOptions = {},
): Promise<string> {
  const env = options.env ?? {};
  const path = dockerConfigPath(env);
  if (!path) {
    throw new BerthError(
      "REGISTRY_CREDENTIALS",
      "no place to store credentials: neither DOCKER_CONFIG nor HOME is set",
    );
  }
  const config: ConfigFile = (await readConfig(path)) ?? {};
  const key = serverKey(registry);
  const helper = matchKey(config.credHelpers, registry) ?? config.credsStore;
  if (helper) {
    const r = await runHelper(
      helper,
      "store",
      JSON.stringify({ ServerURL: key, Username: username, Secret: password }),
      env,
    );
    if (r.code !== 0) {
      throw new BerthError(
        "REGISTRY_CREDENTIALS",
        `credential helper docker-credential-${helper} could not store credentials for ${key} (exit ${r.code})`,
      );
    }
    return `docker-credential-${helper}`;
  }
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (normalizeKey(k) === normalizeKey(registry)) delete auths[k];
  auths[key] = { auth: Buffer.from(`${username}:${password}`, "utf8").toString("base64") };
  await writeAtomic(path, { ...config, auths });
  return path;
}

/** Remove stored credentials for a registry; returns false when there were none. */
export async function eraseCredential(registry: string, options: KeychainOptions = {}): Promise<boolean> {
  const env = options.env ?? {};
  const path = dockerConfigPath(env);
  if (!path) return false;
  const config = await readConfig(path);
  if (!config) return false;
  let erased = false;
  const helper = matchKey(config.credHelpers, registry) ?? config.credsStore;
  if (helper) {
    const r = await runHelper(helper, "erase", serverKey(registry), env);
    if (r.code === 0) erased = true;
  }
  if (config.auths) {
    const auths = { ...config.auths };
    for (const k of Object.keys(auths)) {
      if (normalizeKey(k) === normalizeKey(registry)) {
        delete auths[k];
        erased = true;
      }
    }
    if (erased) await writeAtomic(path, { ...config, auths });
  }
  return erased;
}
