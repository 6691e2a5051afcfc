/**
 * Known deviations from BuildKit, case by case: the exact lines diffImages gives, and why. Each names the point
 * of issue 20 whose fix removes it; when the fix lands the case agrees and its test fails until the entry goes.
 */
export interface Known {
  /** `issue 20 point N: …` */
  why: string;
  lines: string[];
}

export const KNOWN: Record<string, Known[]> = {
  "RUN mounts: bind, cache, secret, tmpfs": [
    {
      why: "engine: Debian's docker.io 20.10 runs BuildKit 0.8, whose executor leaves the mount points of RUN --mount; BuildKit >= 0.11 removes them (executor/stubs.go MountStubsCleaner), as berth does",
      lines: [
        "/c1: only in BuildKit (dir 755 0:0)",
        "/c2: only in BuildKit (dir 755 0:0)",
        "/ctx: only in BuildKit (dir 755 0:0)",
        "/in: only in BuildKit (dir 755 0:0)",
        "/in2: only in BuildKit (dir 755 0:0)",
        "/run: only in BuildKit (dir 755 0:0)",
        "/run/secrets: only in BuildKit (dir 755 0:0)",
        "/s: only in BuildKit (dir 755 0:0)",
        "/scratch: only in BuildKit (dir 755 0:0)",
        "/var/cache: only in BuildKit (dir 755 0:0)",
        "/var/cache/app: only in BuildKit (dir 755 0:0)",
      ],
    },
  ],
};
