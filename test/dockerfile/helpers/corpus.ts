/**
 * The Dockerfile corpus (issue 9): eight contexts, each built FROM a base image in a local registry. Shared by
 * test/dockerfile/corpus.test.ts (berth vs buildah, same filesystem and config) and bench/dockerfile.ts.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export interface Case {
  name: string;
  files: Record<string, string | { content: string; mode: number }>;
  dockerfile: string;
  buildArgs?: string[];
  setup?: (ctx: string) => Promise<void>;
}

export const CORPUS: Case[] = [
  {
    name: "single stage",
    files: { "app.sh": { content: "#!/bin/sh\necho app\n", mode: 0o755 }, "conf/a.conf": "a=1\n" },
    dockerfile: `FROM {{BASE}}
COPY app.sh /usr/local/bin/app
COPY conf /etc/app/
ENV MODE=production
LABEL org.opencontainers.image.title=app version=1
EXPOSE 8080 9090/udp
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--serve"]
`,
  },
  {
    name: "multi-stage with COPY --from",
    files: { "src.txt": "source\n" },
    dockerfile: `FROM {{BASE}} AS build
COPY src.txt /src/
RUN mkdir -p /out && cat /src/src.txt /src/src.txt > /out/built.txt && chmod 640 /out/built.txt && chown 1000:1000 /out/built.txt
RUN echo unused > /out/extra
FROM {{BASE}} AS unused
RUN echo never > /never
FROM {{BASE}}
COPY --from=build /out/built.txt /app/built.txt
COPY --from=0 /src /app/src
CMD ["cat", "/app/built.txt"]
`,
  },
  {
    name: "ARG and ENV substitution",
    files: { "v1.txt": "one\n" },
    buildArgs: ["VERSION=1", "FLAVOR=mint"],
    dockerfile: `ARG VERSION=0
FROM {{BASE}}
ARG VERSION
ARG FLAVOR=vanilla
ARG EMPTY
ENV APP_VERSION=$VERSION APP_FLAVOR=\${FLAVOR} DEFAULTED=\${EMPTY:-fallback} ALT=\${FLAVOR:+has-flavor}
ENV DIR=/opt/app-\${VERSION}
COPY v\${VERSION}.txt \${DIR}/
RUN echo "$APP_VERSION $FLAVOR $DEFAULTED" > \${DIR}/info
LABEL version="\${VERSION}" flavor=\${FLAVOR}
WORKDIR $DIR
`,
  },
  {
    name: "USER and WORKDIR",
    files: { "f.txt": "f\n" },
    dockerfile: `FROM {{BASE}}
RUN chown app:app /home/app
WORKDIR /srv
COPY f.txt .
USER app
WORKDIR /home/app
RUN touch mine && mkdir sub && echo hi > sub/x
WORKDIR sub
RUN id -u > uid
WORKDIR /home/app/made/by/workdir
USER 1000:1000
`,
  },
  {
    name: ".dockerignore",
    files: {
      "keep.txt": "keep\n",
      "secret.env": "TOKEN=x\n",
      "logs/a.log": "log\n",
      "logs/keep.log": "keep log\n",
      "src/main.c": "int main(){}\n",
      "src/main.o": "obj\n",
      ".dockerignore": "*.env\nlogs/*\n!logs/keep.log\n**/*.o\n",
    },
    dockerfile: `FROM {{BASE}}
COPY . /ctx/
`,
  },
  {
    name: "files deleted by RUN (whiteouts)",
    files: { "a.txt": "a\n", "dir/b.txt": "b\n", "dir/c.txt": "c\n" },
    dockerfile: `FROM {{BASE}}
COPY a.txt /data/a.txt
COPY dir /data/dir/
RUN rm /data/a.txt /etc/motd && rm -r /var/lib/old && rm /data/dir/b.txt
RUN mkdir /var/lib/old && echo new > /var/lib/old/fresh
`,
  },
  {
    name: "ADD of a tar",
    files: { "plain.txt": "plain\n" },
    setup: async (ctx) => {
      const tree = join(ctx, "..", "tartree");
      await mkdir(join(tree, "pkg", "bin"), { recursive: true });
      await writeFile(join(tree, "pkg", "bin", "tool"), "#!/bin/sh\necho tool\n", { mode: 0o755 });
      await writeFile(join(tree, "pkg", "README"), "readme\n");
      execFileSync("tar", [
        "-czf",
        join(ctx, "pkg.tar.gz"),
        "--owner=1000",
        "--group=1000",
        "-C",
        tree,
        "pkg",
      ]);
      execFileSync("tar", ["-cf", join(ctx, "root.tar"), "--owner=0", "--group=0", "-C", tree, "pkg/README"]);
    },
    dockerfile: `FROM {{BASE}}
ADD pkg.tar.gz /opt/
ADD root.tar /srv/
ADD plain.txt /srv/plain.txt
`,
  },
  {
    name: "COPY --chown and --chmod",
    files: { "conf/x.conf": "x\n", "conf/sub/y.conf": "y\n", "run.sh": { content: "echo\n", mode: 0o755 } },
    dockerfile: `FROM {{BASE}}
COPY --chown=app:app conf /etc/conf/
COPY --chown=1000:1000 run.sh /home/app/bin/run.sh
COPY --chown=app run.sh /opt/new/dir/run.sh
COPY --chmod=600 run.sh /root-only.sh
`,
  },
];

/** Write a case's context (files, setup, Dockerfile with `{{BASE}}` replaced) into `ctx`. */
export async function writeCase(ctx: string, c: Case, base: string): Promise<void> {
  await mkdir(ctx, { recursive: true });
  for (const [path, spec] of Object.entries(c.files)) {
    const p = join(ctx, path);
    await mkdir(dirname(p), { recursive: true });
    const { content, mode } = typeof spec === "string" ? { content: spec, mode: 0o644 } : spec;
    await writeFile(p, content);
    await chmod(p, mode);
  }
  await c.setup?.(ctx);
  await writeFile(join(ctx, "Dockerfile"), c.dockerfile.replaceAll("{{BASE}}", base));
}
