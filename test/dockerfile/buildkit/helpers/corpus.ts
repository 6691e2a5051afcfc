/**
 * The oracle corpus: Dockerfiles written for test/dockerfile/buildkit/oracle.test.ts, together covering every
 * instruction, flag and mount type berth supports. Each builds FROM `{{BASE}}` (the busybox base of
 * test/dockerfile/helpers/base.ts: busybox applets in /bin, an `app` user 1000:1000, /etc/motd, /var/lib/old/data).
 * RUN steps need no network (BuildKit's engine here has none).
 */
import { execFileSync } from "node:child_process";
import { link, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OracleCase } from "./oracle.ts";

export const ORACLE_CORPUS: OracleCase[] = [
  {
    name: "config instructions",
    dockerfile: `FROM {{BASE}}
MAINTAINER someone <someone@example.com>
ENV MODE=production PATH=/usr/local/bin:/bin
ENV SPACED="a b" QUOTED='c d'
LABEL org.opencontainers.image.title=app "with space"="x y" multi=1 \\
      second=2
EXPOSE 8080 9090/udp 7000-7002/tcp
USER app:app
VOLUME /data /logs
VOLUME ["/cache", "/tmp/x"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --start-interval=2s --retries=4 CMD wget -q -O- localhost:8080 || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT /bin/echo started
CMD ["--serve", "--port=8080"]
`,
  },
  {
    name: "ENTRYPOINT exec and CMD shell forms, HEALTHCHECK exec form then NONE",
    dockerfile: `FROM {{BASE}} AS first
CMD echo "from cmd"
ENTRYPOINT ["/bin/sh", "-c"]
HEALTHCHECK CMD ["/bin/true"]
FROM first
HEALTHCHECK NONE
SHELL ["/bin/sh", "-xc"]
RUN echo "$0 $*" > /shell-used
CMD echo shell form under a new SHELL
STOPSIGNAL 9
ENV LEGACY form with spaces
USER 1000:app
`,
  },
  {
    name: "ARG and ENV scoping",
    buildArgs: ["VERSION=2", "OVERRIDDEN=from-cli", "UNUSED=x"],
    files: { "v2.txt": "two\n" },
    dockerfile: `ARG VERSION=1
ARG GLOBAL_ONLY=global
FROM {{BASE}} AS one
ARG VERSION
ARG OVERRIDDEN=default
ARG EMPTY
ARG FROM_ENV=\${VERSION}-suffix
ENV APP_VERSION=$VERSION ALT=\${EMPTY:-fallback} PLUS=\${VERSION:+set} GLOBAL=\${GLOBAL_ONLY}
ENV OVERRIDDEN=env-wins
RUN echo "$VERSION $OVERRIDDEN $FROM_ENV $GLOBAL_ONLY" > /args.txt
COPY v\${VERSION}.txt /opt/app-\${VERSION}/
WORKDIR /opt/app-\${VERSION}
LABEL version=\${VERSION} overridden=$OVERRIDDEN
FROM {{BASE}}
RUN echo "[$VERSION]" > /second.txt
ARG VERSION
RUN echo "[$VERSION]" > /third.txt
COPY --from=one /args.txt /args.txt
`,
  },
  {
    name: "multi-stage: COPY --from by name and index, FROM a stage, an unused stage, --target",
    target: "final",
    files: { "src.txt": "source\n" },
    dockerfile: `FROM {{BASE}} AS build
COPY src.txt /src/
RUN mkdir -p /out/sub && cat /src/src.txt /src/src.txt > /out/built.txt && echo s > /out/sub/s && chmod 640 /out/built.txt && chown 1000:1000 /out/built.txt
FROM {{BASE}} AS unused
RUN echo never > /never
FROM build AS derived
RUN echo derived > /out/derived.txt
FROM {{BASE}} AS final
COPY --from=build /out/built.txt /app/built.txt
COPY --from=0 /src /app/src
COPY --from=derived /out /app/out/
COPY --from=derived /out/sub/s /out/derived.txt /app/many/
FROM {{BASE}} AS after
RUN echo after > /after
`,
  },
  {
    name: "heredocs",
    dockerfile: `FROM {{BASE}}
ENV NAME=berth
RUN <<EOF
echo one > /one
echo "$NAME" > /name
EOF
RUN cat <<EOF > /inline
inline $NAME
EOF
RUN <<EOF sh -c 'cat > /piped'
piped
EOF
COPY <<EOF /etc/expanded
hello $NAME
EOF
COPY <<"EOF" /etc/literal
hello $NAME
EOF
COPY <<-EOF /etc/tabs
\tindented
\tEOF
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
      "src/deep/x.o": "obj\n",
      "docs/README.md": "docs\n",
      ".dockerignore": "*.env\nlogs/*\n!logs/keep.log\n**/*.o\ndocs\n",
    },
    dockerfile: `FROM {{BASE}}
COPY . /ctx/
COPY src /only-src
`,
  },
  {
    // fsutil matches COPY sources with filepath.Match and .dockerignore with patternmatcher's Go regexp: in
    // both, `[!c]` is the class of ! and c (negation is `[^c]`); ignorefile cleans `out/` to `out`; the
    // wildcard part is matched whole (`?[/]?` takes g/h)
    name: "wildcards: [!…] is no negation in COPY sources or .dockerignore; dir/ there matches a file",
    files: {
      "a.txt": "a\n",
      "b.txt": "b\n",
      "!.txt": "bang\n",
      "c.md": "c\n",
      "d.md": "d\n",
      out: "a file\n",
      "e\\*f": "backslash star\n",
      "e*f": "star\n",
      exf: "x\n",
      "g/h": "through a class\n",
      ".dockerignore": "[!c].md\nout/\n",
    },
    dockerfile: `FROM {{BASE}}
COPY [!a].txt /neg/
COPY [^a].txt /not-a/
COPY *.md /md/
COPY . /all/
COPY ["e\\\\*f", "/esc/"]
COPY ?[/]? /slash/
`,
  },
  {
    name: "hard links from the context, from RUN and through COPY --from",
    files: { "hl/a": "linked\n", "other.txt": "o\n" },
    setup: async (ctx) => {
      await link(join(ctx, "hl", "a"), join(ctx, "hl", "b"));
      await mkdir(join(ctx, "hl", "sub"));
      await link(join(ctx, "hl", "a"), join(ctx, "hl", "sub", "c"));
    },
    dockerfile: `FROM {{BASE}} AS links
RUN mkdir /made && echo x > /made/one && ln /made/one /made/two && ln /made/one /made/three
FROM {{BASE}}
COPY hl /hl/
COPY --from=links /made /made/
RUN echo y > /run-one && ln /run-one /run-two
`,
  },
  {
    name: "symlinks",
    files: { "real/file.txt": "real\n" },
    setup: async (ctx) => {
      await symlink("file.txt", join(ctx, "real", "rel-link"));
      await symlink("/etc/motd", join(ctx, "real", "abs-link"));
      await symlink("real", join(ctx, "dir-link"));
      await symlink("real/file.txt", join(ctx, "top-link"));
    },
    dockerfile: `FROM {{BASE}}
COPY real /real/
COPY dir-link /via-dir-link/
COPY top-link /top-link-copy
COPY top-link /links/
RUN ln -s /real/file.txt /run-link && ln -s missing /dangling && mkdir /d && ln -s ../real /d/up
FROM {{BASE}}
COPY --from=0 /real /from-stage/real
COPY --from=0 /run-link /from-stage/run-link
COPY --from=0 /d /from-stage/d
`,
  },
  {
    name: "whiteouts: deletions, opaque directories and overwrites across layers",
    files: { "a.txt": "a\n", "dir/b.txt": "b\n", "dir/c.txt": "c\n", motd: "replaced\n" },
    dockerfile: `FROM {{BASE}}
COPY a.txt /data/a.txt
COPY dir /data/dir/
RUN rm /data/a.txt /etc/motd && rm -r /var/lib/old && rm /data/dir/b.txt
RUN mkdir /var/lib/old && echo new > /var/lib/old/fresh
RUN rm -r /data/dir && mkdir /data/dir && echo d > /data/dir/d.txt
COPY motd /etc/motd
RUN rm /bin/sort /bin/find && echo gone > /bin/find
`,
  },
  {
    name: "ownership: --chown, USER, RUN as a user",
    files: { "conf/x.conf": "x\n", "conf/sub/y.conf": "y\n", "run.sh": { content: "echo\n", mode: 0o755 } },
    dockerfile: `FROM {{BASE}}
COPY --chown=app:app conf /etc/conf/
COPY --chown=1000:1000 run.sh /home/app/bin/run.sh
COPY --chown=app run.sh /opt/new/dir/run.sh
COPY --chown=2000:3000 conf /numeric/
ADD --chown=app:app conf /added/
USER app
COPY run.sh /as-user/run.sh
RUN mkdir -p /tmp/u/v && echo mine > /tmp/u/v/mine && id > /tmp/u/id
USER 1000:1000
RUN touch /tmp/u/numeric
`,
  },
  {
    name: "WORKDIR creation",
    dockerfile: `FROM {{BASE}}
WORKDIR /srv
WORKDIR app/sub
ENV DIR=/opt/\${HOME:-nohome}/work
WORKDIR $DIR
RUN pwd > here
WORKDIR /etc
USER app
WORKDIR /home/app/made/by/user
WORKDIR /var/lib/old
`,
  },
  {
    name: "ADD of local tar archives and plain files",
    files: { "plain.txt": "plain\n", "dir/f": "f\n" },
    setup: async (ctx) => {
      const tree = join(ctx, "..", "tartree");
      await mkdir(join(tree, "pkg", "bin"), { recursive: true });
      await writeFile(join(tree, "pkg", "bin", "tool"), "#!/bin/sh\necho tool\n", { mode: 0o755 });
      await writeFile(join(tree, "pkg", "README"), "readme\n");
      await symlink("bin/tool", join(tree, "pkg", "tool-link"));
      await link(join(tree, "pkg", "README"), join(tree, "pkg", "README.hard"));
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
      execFileSync("tar", [
        "-cjf",
        join(ctx, "pkg.tar.bz2"),
        "--owner=0",
        "--group=0",
        "-C",
        tree,
        "pkg/bin",
      ]);
    },
    dockerfile: `FROM {{BASE}}
ADD pkg.tar.gz /opt/
ADD root.tar /srv/
ADD pkg.tar.bz2 /bz/
ADD plain.txt /srv/plain.txt
ADD dir /added-dir/
ADD plain.txt dir /many/
ADD {{URL}}/tool.txt /downloaded/
ADD {{URL}}/tool.txt /downloaded-as
`,
  },
  {
    name: "RUN mounts: bind, cache, secret, tmpfs",
    files: { "input/data.txt": "from the context\n", "tool.sh": { content: "echo tool\n", mode: 0o755 } },
    secrets: { token: "s3cret\n" },
    dockerfile: `FROM {{BASE}} AS stage
RUN mkdir /stuff && echo from-stage > /stuff/file
FROM {{BASE}}
RUN --mount=type=bind,target=/ctx cat /ctx/input/data.txt > /bound.txt
RUN --mount=type=bind,source=input,target=/in cat /in/data.txt > /source.txt
RUN --mount=type=bind,source=input,target=/in,rw echo changed > /in/data.txt && cat /in/data.txt > /rw.txt
RUN --mount=type=bind,source=input,target=/in2 cat /in2/data.txt > /after-rw.txt
RUN --mount=type=bind,from=stage,source=/stuff,target=/s cat /s/file > /from-stage.txt
RUN --mount=type=cache,target=/var/cache/app echo x >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs
RUN --mount=type=cache,id=shared,target=/c1,sharing=locked echo y > /c1/y
RUN --mount=type=cache,id=shared,target=/c2 cat /c2/y > /cache-shared.txt
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-size
RUN --mount=type=secret,id=token,target=/etc/tok,required=true cat /etc/tok > /secret-copy
RUN --mount=type=secret,id=token,mode=0440,uid=1000,gid=1000 stat -c '%a %u %g' /run/secrets/token > /secret-stat
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && ls /scratch > /tmpfs.txt
RUN --network=none echo offline > /net.txt
`,
  },
  {
    name: "COPY flags: --chmod, --link, wildcards",
    files: {
      "bin/a.sh": { content: "a\n", mode: 0o755 },
      "bin/b.sh": { content: "b\n", mode: 0o700 },
      "conf/x.conf": "x\n",
      "conf/y.conf": "y\n",
    },
    dockerfile: `FROM {{BASE}}
COPY --chmod=600 bin/a.sh /secure/a.sh
COPY --chmod=755 conf /conf-exec/
COPY --chown=app:app --chmod=640 conf/x.conf /owned/
COPY --link bin /linked/
COPY bin/*.sh conf/?.conf /wild/
COPY --link --chmod=700 conf/x.conf /linked-chmod
`,
  },
  {
    name: "ONBUILD triggers run in a child stage and are not inherited further",
    files: { "marker.txt": "marker\n" },
    dockerfile: `FROM {{BASE}} AS parent
ONBUILD COPY marker.txt /onbuild-marker
ONBUILD RUN echo triggered > /triggered
FROM parent
RUN echo child > /child
`,
  },
  {
    name: "ONBUILD in the final image",
    dockerfile: `FROM {{BASE}}
ONBUILD RUN echo later
ONBUILD ENV LATER=1
`,
  },
  {
    name: "escape directive, ARG in FROM, FROM --platform, COPY --from an image",
    files: { "dir with space/f.txt": "f\n" },
    dockerfile: `# escape=\`
ARG IMG={{BASE}}
FROM --platform=linux/amd64 \${IMG} AS first
COPY ["dir with space/f.txt", "/spaced/"]
RUN echo one \`
    two > /escaped
FROM \${IMG}
COPY --from={{BASE}} /etc/motd /from-image/motd
COPY --from=first /spaced /spaced
`,
  },
  {
    name: "FROM scratch",
    files: { "hello.txt": "hello\n" },
    dockerfile: `FROM {{BASE}} AS base
FROM scratch
COPY hello.txt /
COPY --from=base /bin/busybox /bin/busybox
ENV EXTRA=1
CMD ["/bin/busybox", "cat", "/hello.txt"]
`,
  },
  {
    // From buildah's tests/bud (build-arg, use-args, with-arg, arg-scope, multiarch): the `|N k=v` of a RUN's
    // history lists every ARG of the stage in declaration order, those without a value as `k=`, ENV's value first.
    name: "RUN history: the stage's ARGs in order, unset ones empty, ENV's value",
    buildArgs: ["GIVEN=cli"],
    dockerfile: `FROM {{BASE}}
ARG ZED
RUN echo "$ZED" > /zed
ARG alpha beta=set
ARG GIVEN SHADOWED=arg
ENV SHADOWED=env
RUN echo "$alpha $beta $GIVEN $SHADOWED" > /all
ARG ZED=again
RUN true
`,
  },
  {
    // From buildah's tests/bud/heredoc: a RUN's one heredoc that starts with `#!` is run as a file,
    // /dev/pipes/NAME, so $0 names it; after `<<-` a tab before `#!` makes it shell text again.
    name: "RUN heredoc with a shebang runs as a file",
    dockerfile: `FROM {{BASE}}
RUN <<EOF
#!/bin/sh
echo "$0 $*" > /zero
EOF
RUN <<-SCRIPT
#!/bin/sh -e
\techo "chomped $0" > /chomped
\tSCRIPT
RUN <<-EOF
\t#!/bin/sh
\techo "tabbed $0" > /tabbed
\tEOF
USER app
RUN <<EOF
#!/bin/sh
id -u > /tmp/as-app
EOF
`,
  },
  {
    // From buildah's tests/bud/copy-globs: several sources onto a destination without a trailing / are
    // copied one after the other: the first makes it (a file, or a directory), a later file overwrites it.
    name: "COPY of several sources to a destination without /",
    files: { "one.txt": "one\n", "two.txt": "two\n", "dir/inner.txt": "inner\n" },
    dockerfile: `FROM {{BASE}}
COPY *.txt /globbed
COPY two.txt one.txt /listed
COPY dir one.txt /made-dir
WORKDIR /work
COPY *.txt relative
`,
  },
  {
    // From buildah's tests/bud/copy-chown (Dockerfile.bad2, --chown=\${BOGUS}:\${BOGUS}): a user or group the
    // image lacks is no error in BuildKit: a user is 0:0, a group leaves the user's.
    name: "--chown and WORKDIR with a user or group the image lacks",
    files: { "f.txt": "f\n" },
    dockerfile: `FROM {{BASE}}
ARG NONE
COPY --chown=nosuch f.txt /a
COPY --chown=app:nogroup f.txt /b
COPY --chown=7:nogroup f.txt /c
COPY --chown=\${NONE}:\${NONE} f.txt /d
USER ghost
WORKDIR /made-by-ghost
`,
  },
  {
    name: "ARGs of the stage a FROM names",
    dockerfile: `FROM {{BASE}} AS parent
ARG INHERITED=from-parent
ARG BARE
FROM parent AS child
ARG OWN=child
RUN echo "$INHERITED $OWN" > /seen
ENV COPIED=\${INHERITED:-none}
`,
  },
];
