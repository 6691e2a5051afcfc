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
  "hard links from the context, from RUN and through COPY --from": [
    {
      why: "issue 20 point 2: hard links survive COPY/ADD (from the context, --from, a tar); berth copies each link",
      lines: [
        "/hl/a: berth file 644 0:0 7B 922e77203577a854; BuildKit file 644 0:0 7B 922e77203577a854 links=hl/b,hl/sub/c",
        "/hl/b: berth file 644 0:0 7B 922e77203577a854; BuildKit file 644 0:0 7B 922e77203577a854 links=hl/a,hl/sub/c",
        "/hl/sub/c: berth file 644 0:0 7B 922e77203577a854; BuildKit file 644 0:0 7B 922e77203577a854 links=hl/a,hl/b",
        "/made/one: berth file 644 0:0 2B 73cb3858a687a849; BuildKit file 644 0:0 2B 73cb3858a687a849 links=made/three,made/two",
        "/made/three: berth file 644 0:0 2B 73cb3858a687a849; BuildKit file 644 0:0 2B 73cb3858a687a849 links=made/one,made/two",
        "/made/two: berth file 644 0:0 2B 73cb3858a687a849; BuildKit file 644 0:0 2B 73cb3858a687a849 links=made/one,made/three",
      ],
    },
  ],
  "ADD of local tar archives and plain files": [
    {
      why: "issue 20 point 2: hard links survive COPY/ADD (from the context, --from, a tar); berth copies each link",
      lines: [
        "/opt/pkg/README: berth file 644 1000:1000 7B 00d75b5176b48ccc; BuildKit file 644 1000:1000 7B 00d75b5176b48ccc links=opt/pkg/README.hard",
        "/opt/pkg/README.hard: berth file 644 1000:1000 7B 00d75b5176b48ccc; BuildKit file 644 1000:1000 7B 00d75b5176b48ccc links=opt/pkg/README",
      ],
    },
  ],
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
    {
      why: "issue 20 point 5: secret mounts honour mode, uid and gid",
      lines: [
        "/secret-stat: berth file 644 0:0 8B a787dd0fb9fbfe99; BuildKit file 644 0:0 14B 541a7e8cca72269b",
      ],
    },
  ],
  "FROM scratch": [
    {
      why: "issue 20 point 5: FROM scratch gets BuildKit's empty image config (default PATH; emptyImage also sets WorkingDir /)",
      lines: [
        'config Env: berth ["EXTRA=1"]; BuildKit ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","EXTRA=1"]',
        'config WorkingDir: berth null; BuildKit "/"',
      ],
    },
  ],
};
