/** `berth bundle`: a bundle plain runc (and crun, where it can start) runs. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage, crunUsable } from "./helpers.ts";

let dir: string;
let home: string;
let img: string;

beforeAll(async () => {
  dir = await tempDir("berth-bundle-");
  home = join(dir, "home");
  await busyboxImage(
    join(dir, "layout"),
    "app",
    {
      env: ["GREETING=hello"],
      cmd: ["sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g) $(id -G)"'],
      workdir: "/home/app",
      user: "app",
      labels: { "org.example.team": "runtime" },
    },
    [[{ path: "home/app/file", content: "x" }]],
  );
  img = `oci:${join(dir, "layout")}:app`;
});

function runtimeRun(rt: string, bundle: string, id: string) {
  return spawnSync(rt, ["--root", join(dir, `${rt}-state`), "run", "-b", bundle, id], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

it("writes rootfs/ and a converted config.json that plain `runc run` starts", async () => {
  const bundle = join(dir, "b1");
  const r = await berth(["bundle", img, bundle], { home });
  expect(r.stderr).toContain(`Wrote bundle ${bundle} (2 layers)`);
  expect(r.code).toBe(0);
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  expect(spec.root.path).toBe("rootfs");
  expect(spec.process.args).toEqual(["sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g) $(id -G)"']);
  expect(spec.process.cwd).toBe("/home/app");
  expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 10] });
  expect(spec.process.env).toContain("GREETING=hello");
  expect(spec.process.env).toContain("HOME=/home/app");
  expect(spec.annotations["org.example.team"]).toBe("runtime");
  expect(spec.annotations["org.opencontainers.image.os"]).toBe("linux");
  expect(spec.annotations["org.opencontainers.image.architecture"]).toBe("amd64");
  expect(spec.linux.namespaces.map((n: { type: string }) => n.type)).toEqual(["pid", "ipc", "uts", "mount"]);
  expect(spec.mounts.map((m: { destination: string }) => m.destination)).toEqual([
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
  ]);
  expect(spec.process.capabilities.bounding).toContain("CAP_NET_BIND_SERVICE");
  expect(spec.process.capabilities.bounding).not.toContain("CAP_SYS_ADMIN");
  expect(spec.linux.maskedPaths).toContain("/proc/kcore");
  expect(spec.linux.seccomp.defaultAction).toBe("SCMP_ACT_ALLOW");
  expect(spec.linux.seccomp.syscalls[0].names).toEqual(
    expect.arrayContaining(["unshare", "mount", "keyctl", "bpf"]),
  );
  const out = runtimeRun("runc", bundle, "berth-bundle-test");
  expect(out.stderr).toBe("");
  expect(out.stdout).toBe("hello /home/app 1000:1000 1000 10 50\n");
  expect(out.status).toBe(0);
});

it("ARGs, --network none and --user work in bundles too; the directory must be empty", async () => {
  const bundle = join(dir, "b2");
  const r = await berth(
    [
      "bundle",
      "--network",
      "none",
      "--user",
      "0",
      img,
      bundle,
      "sh",
      "-c",
      "ls /sys/class/net; id -u; exit 5",
    ],
    { home },
  );
  expect(r.code).toBe(0);
  const out = runtimeRun("runc", bundle, "berth-bundle-test2");
  expect(out.stdout).toBe("lo\n0\n");
  expect(out.status).toBe(5);
  const again = await berth(["bundle", img, bundle], { home });
  expect(again.code).toBe(2);
  expect(again.stderr).toContain("is not empty");
});

it("an unknown user is a clear error and leaves no half bundle", async () => {
  const bundle = join(dir, "b3");
  const r = await berth(["bundle", "--user", "ghost", img, bundle], { home });
  expect(r.code).toBe(3);
  expect(r.stderr).toContain(`berth: user "ghost" is not in /etc/passwd of ${img}`);
  expect(spawnSync("ls", ["-A", bundle], { encoding: "utf8" }).stdout).toBe("");
});

it("crun runs the same bundle, where crun can start on this host", async (t) => {
  const crun = await crunUsable();
  if (!crun.ok) {
    console.log(`skipped: ${crun.reason}`);
    t.skip(crun.reason);
    return;
  }
  const bundle = join(dir, "b4");
  expect((await berth(["bundle", img, bundle], { home })).code).toBe(0);
  const out = runtimeRun("crun", bundle, "berth-bundle-crun");
  expect(out.stdout).toBe("hello /home/app 1000:1000 1000 10 50\n");
});

it("berth run --runtime crun gives a clear error where crun cannot start", async (t) => {
  const crun = await crunUsable();
  if (crun.ok) {
    const r = await berth(["run", "--runtime", "crun", img, "true"], { home });
    expect(r.code).toBe(0);
    return;
  }
  const r = await berth(["run", "--runtime", "crun", img, "true"], { home });
  expect(r.code).toBe(125);
  expect(r.stderr).toContain("crun could not start the container");
  t.annotate?.(crun.reason);
});
