/**
 * Rootless `berth run` for real (issue 5, item 4): the CLI run as a non-root user (from root: setpriv to an
 * unused uid; otherwise: as ourselves), runc in rootless mode with a user namespace mapping that user to 0.
 * Skips, printing why, only when the kernel forbids unprivileged user namespaces.
 */
import { spawn } from "node:child_process";
import { chmod, chown, cp, lstat, mkdir, readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { userNamespaceForbidden } from "../../src/runtime/userns.ts";
import { tempDir } from "../helpers/temp.ts";
import { testUser } from "../helpers/user.ts";
import { busyboxImage } from "./helpers.ts";

const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");
const isRoot = process.geteuid?.() === 0;
/** The non-root user the CLI runs as: an unused uid (no passwd entry, no subordinate ids) when we are root. */
const ID = isRoot ? 4242 : (process.geteuid?.() ?? 0);
const forbidden = await userNamespaceForbidden();
if (forbidden) console.log(`rootless tests skipped: ${forbidden}`);
const when = it.skipIf(forbidden !== undefined);

let tmp: string;
/** The test image, owned by root (the layout's files are not all world-readable). */
let image: string;

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  const st = await lstat(path);
  if (!st.isDirectory()) return;
  for (const name of await readdir(path)) await chownTree(join(path, name), uid, gid);
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCli(argv: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", fail);
    child.on("close", (code) =>
      done({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }),
    );
  });
}

/** `berth ARGS` as the user `uid:gid` (setpriv from root), with HOME, BERTH_HOME and XDG_RUNTIME_DIR of its own. */
function berthAs(uid: number, gid: number, home: string, args: string[]): Promise<Result> {
  const env = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: home,
    BERTH_HOME: join(home, "berth"),
    XDG_RUNTIME_DIR: join(home, "xdg"),
  };
  const node = [process.execPath, BIN, ...args];
  const argv =
    process.geteuid?.() === 0
      ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...node]
      : node;
  return spawnCli(argv, env);
}

/** A home folder owned by `uid:gid`, holding a copy of the test image that user can read. */
async function homeFor(name: string, uid: number, gid: number): Promise<{ home: string; image: string }> {
  const home = join(tmp, name);
  await mkdir(join(home, "xdg"), { recursive: true, mode: 0o700 });
  await cp(join(tmp, "layout"), join(home, "layout"), { recursive: true });
  if (isRoot) await chownTree(home, uid, gid);
  return { home, image: `oci:${join(home, "layout")}:b` };
}

beforeAll(async () => {
  tmp = await tempDir("berth-rootless-");
  const layout = join(tmp, "layout");
  await busyboxImage(layout, "b", { cmd: ["sh", "-c", "echo hello from $(id -u)"], user: "app" });
  image = `oci:${layout}:b`;
  await chmod(tmp, 0o755); // the users below pass through
});

when(
  "runs a container rootless: output, exit code, root inside mapped to the caller, volume files owned by the caller",
  async () => {
    const { home, image } = await homeFor("home", ID, ID);
    const vol = join(tmp, "vol");
    await mkdir(vol);
    await chown(vol, ID, ID);
    const r = await berthAs(ID, ID, home, [
      "run",
      "--user",
      "0",
      "-e",
      "GREETING=hi",
      "-v",
      `${vol}:/data`,
      image,
      "sh",
      "-c",
      'echo "$GREETING"; id -u; id -g; cat /proc/self/uid_map; echo written > /data/out; mkdir /data/dir; exit 3',
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(3);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 3)).toEqual(["hi", "0", "0"]);
    expect(lines[3]!.trim().split(/\s+/)).toEqual(["0", String(ID), "1"]);
    for (const name of ["out", "dir"]) {
      const st = await lstat(join(vol, name));
      expect([st.uid, st.gid]).toEqual([ID, ID]);
    }
    expect(await readFile(join(vol, "out"), "utf8")).toBe("written\n");
    // Rootless snapshots are full trees (no overlay mounts without root), owned by the caller.
    const full = join(home, "berth", "snapshots", "full");
    expect((await readdir(full)).length).toBeGreaterThan(0);
    expect((await lstat(full)).uid).toBe(ID);
    // A second run applies no layer and gives the same output.
    const again = await berthAs(ID, ID, home, ["run", "--user", "0", image, "true"]);
    expect([again.code, again.stderr]).toEqual([0, ""]);
  },
);

when("an image user that cannot be mapped (no subordinate ids): runs as root, with a warning", async () => {
  const { home, image } = await homeFor("home-warn", ID, ID);
  const r = await berthAs(ID, ID, home, ["run", image]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("hello from 0\n");
  expect(r.stderr).toMatch(
    /^berth: warning: running as root in the container, not as app:1000: .*\/etc\/subuid/,
  );
});

// berthuser, with subordinate ids (.ci/setup makes it; test/helpers/user.ts when absent)
const subUser = isRoot ? await testUser() : undefined;
if (!subUser)
  console.log(
    "rootless --user with subordinate ids skipped: not root, so no test user with /etc/subuid and /etc/subgid ranges",
  );

it.skipIf(forbidden !== undefined || !subUser)(
  "with subordinate ids (newuidmap): the image's non-root user runs as itself",
  async () => {
    const { uid, gid } = subUser!;
    const { home, image } = await homeFor("home-sub", uid, gid);
    const r = await berthAs(uid, gid, home, ["run", image, "sh", "-c", "id -u; id -g; whoami"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe("1000\n1000\napp\n");
  },
);

it.skipIf(!isRoot)(
  "where the kernel forbids the user namespace: one clear sentence naming the sysctl, not runc's text",
  async () => {
    // A real kernel limit: in a user namespace of our own, user.max_user_namespaces = 1 lets the CLI's own
    // namespace be made and no more, so runc's cannot.
    const home = join(tmp, "home-forbidden");
    await mkdir(home, { recursive: true });
    const script = `echo 1 > /proc/sys/user/max_user_namespaces && exec unshare --user --map-user=${ID} --map-group=${ID} -- "$@"`;
    const r = await spawnCli(
      [
        "unshare",
        "--user",
        "--map-root-user",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        process.execPath,
        BIN,
        "run",
        image,
      ],
      { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: home, BERTH_HOME: join(home, "berth") },
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^berth: the kernel allows this user no more user namespaces \(sysctl user\.max_user_namespaces[^\n]*\nhint: [^\n]*sysctl -w user\.max_user_namespaces/,
    );
    expect(r.stderr).not.toMatch(/runc|nsexec/);
  },
);

when(
  "rootless, the default network is private too (no host loopback service); --network host shares the host's",
  async () => {
    const secret = `rootless-secret-${process.pid}`;
    const server = createServer((s) => s.end(secret));
    const port = await new Promise<number>((res) =>
      server.listen(0, "127.0.0.1", () => res((server.address() as { port: number }).port)),
    );
    try {
      const { home, image } = await homeFor("home-net", ID, ID);
      const r = await berthAs(ID, ID, home, [
        "run",
        "--user",
        "0",
        image,
        "sh",
        "-c",
        `ip -o link | grep -q tap0 && echo tap0; ip -o link | grep -q eth0 && echo eth0; echo | nc -w 3 127.0.0.1 ${port}; grep nameserver /etc/resolv.conf`,
      ]);
      expect(r.stderr).toBe("nc: can't connect to remote host (127.0.0.1): Connection refused\n");
      expect(r.stdout).not.toContain(secret);
      expect(r.stdout).toBe("tap0\nnameserver 10.0.2.3\n");
      const host = await berthAs(ID, ID, home, [
        "run",
        "--network",
        "host",
        "--user",
        "0",
        image,
        "sh",
        "-c",
        `echo | nc -w 3 127.0.0.1 ${port}`,
      ]);
      expect(host.stdout).toBe(secret);
    } finally {
      server.close();
    }
  },
);
