/** The default seccomp filter: Docker's refusals as a denylist, ENOSYS where libc and libuv fall back. */
import { arch } from "node:os";
import { expect, it } from "vitest";
import { defaultSeccomp } from "../../src/runtime/seccomp.ts";

const profile = defaultSeccomp();
const refused = (name: string) =>
  profile.syscalls.filter((r) => r.names.includes(name) && r.action === "SCMP_ACT_ERRNO" && !r.args);

it("allows by default and covers this machine's 32-bit entry points", () => {
  expect(profile.defaultAction).toBe("SCMP_ACT_ALLOW");
  if (arch() === "x64")
    expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  if (arch() === "arm64") expect(profile.architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
});

it("refuses with EPERM what Docker's default profile blocks: mounts, namespaces, keyrings, modules, the clock, BPF", () => {
  for (const name of [
    "mount",
    "umount2",
    "pivot_root",
    "fsopen",
    "unshare",
    "setns",
    "keyctl",
    "init_module",
    "kexec_load",
    "clock_settime",
    "bpf",
    "perf_event_open",
    "open_by_handle_at",
    "userfaultfd",
  ]) {
    const rules = refused(name);
    expect(rules, name).toHaveLength(1);
    expect(rules[0]!.errnoRet, name).toBeUndefined();
  }
});

it("clone3 and io_uring answer ENOSYS, so that libc and libuv fall back", () => {
  for (const name of ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"]) {
    expect(refused(name).map((r) => r.errnoRet)).toEqual([38]);
  }
});

it("clone is refused only with a namespace flag, one masked rule per flag", () => {
  const clone = profile.syscalls.filter((r) => r.names.includes("clone"));
  const flags = clone.map((r) => r.args?.[0]);
  expect(flags.map((a) => a?.value)).toEqual([
    0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000,
  ]);
  for (const a of flags) expect(a).toMatchObject({ index: 0, op: "SCMP_CMP_MASKED_EQ", valueTwo: a!.value });
});

it("leaves alone what Docker allows: ptrace, process_vm_*, kcmp, personality, and the everyday calls", () => {
  const named = new Set(profile.syscalls.flatMap((r) => r.names));
  for (const name of [
    "ptrace",
    "process_vm_readv",
    "kcmp",
    "personality",
    "read",
    "openat",
    "execve",
    "chown",
  ]) {
    expect(named.has(name), name).toBe(false);
  }
});
