/**
 * The seccomp filter every container gets unless asked otherwise (docker's `--security-opt
 * seccomp=unconfined`). It refuses the system calls Docker documents as blocked by its default profile for a
 * container with Docker's default capabilities ("Significant syscalls blocked by the default profile",
 * docs.docker.com/engine/security/seccomp): kernel modules and kexec, keyrings, the clock, accounting, swap,
 * quotas, BPF and perf, NUMA policy, mounts, namespace changes (`unshare`, `setns`, `clone` with a namespace
 * flag; `clone3`, whose flags a filter cannot read, answers ENOSYS so that libc falls back to `clone`), file
 * handles, userfaultfd and the legacy calls. Docker writes its profile as an allowlist; this one is the same
 * refusals written as a denylist, so a syscall newer than the list is allowed (io_uring, which Docker also
 * refuses, answers ENOSYS so that libuv and liburing fall back). `ptrace`, `process_vm_*` and `kcmp` stay
 * allowed, as Docker allows them on kernels from 4.8. `personality` is not filtered.
 */
import { arch } from "node:os";

export interface SeccompRule {
  names: string[];
  action: "SCMP_ACT_ERRNO" | "SCMP_ACT_ALLOW";
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

export interface Seccomp {
  defaultAction: "SCMP_ACT_ALLOW";
  architectures?: string[];
  syscalls: SeccompRule[];
}

const ENOSYS = 38;

/** Refused with EPERM. */
const REFUSED = [
  // kernel modules, kexec, reboot
  "create_module",
  "delete_module",
  "finit_module",
  "get_kernel_syms",
  "init_module",
  "query_module",
  "kexec_file_load",
  "kexec_load",
  "reboot",
  // keyrings are not namespaced
  "add_key",
  "keyctl",
  "request_key",
  // the clock is not namespaced
  "clock_adjtime",
  "clock_settime",
  "settimeofday",
  "stime",
  // accounting, swap, quotas, kernel tracing and BPF, raw I/O ports
  "acct",
  "swapon",
  "swapoff",
  "quotactl",
  "quotactl_fd",
  "bpf",
  "perf_event_open",
  "lookup_dcookie",
  "fanotify_init",
  "syslog",
  "iopl",
  "ioperm",
  "vhangup",
  // NUMA memory policy (CAP_SYS_NICE)
  "get_mempolicy",
  "set_mempolicy",
  "mbind",
  "move_pages",
  // mounts, old and new API
  "mount",
  "umount",
  "umount2",
  "pivot_root",
  "open_tree",
  "move_mount",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  // namespaces
  "unshare",
  "setns",
  // file handles can reach files outside the container's root
  "name_to_handle_at",
  "open_by_handle_at",
  // obsolete or dangerous
  "nfsservctl",
  "sysfs",
  "_sysctl",
  "uselib",
  "userfaultfd",
  "ustat",
  "vm86",
  "vm86old",
];

/** `clone` flags that make a new namespace (linux/sched.h). */
const CLONE_NAMESPACE_FLAGS = [
  0x00020000, // CLONE_NEWNS
  0x02000000, // CLONE_NEWCGROUP
  0x04000000, // CLONE_NEWUTS
  0x08000000, // CLONE_NEWIPC
  0x10000000, // CLONE_NEWUSER
  0x20000000, // CLONE_NEWPID
  0x40000000, // CLONE_NEWNET
];

/** The architectures whose system calls the filter must cover on this machine (32-bit entry points too). */
function architectures(): string[] | undefined {
  switch (arch()) {
    case "x64":
      return ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
    case "arm64":
      return ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
    default:
      return undefined; // the native one
  }
}

export function defaultSeccomp(): Seccomp {
  const archs = architectures();
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    ...(archs ? { architectures: archs } : {}),
    syscalls: [
      { names: REFUSED, action: "SCMP_ACT_ERRNO" },
      {
        names: ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: ENOSYS,
      },
      ...CLONE_NAMESPACE_FLAGS.map(
        (flag): SeccompRule => ({
          names: ["clone"],
          action: "SCMP_ACT_ERRNO",
          args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
        }),
      ),
    ],
  };
}
