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
  "config instructions": [
    {
      why: "open: not yet matched",
      lines: [
        'config ExposedPorts: berth {"8080/tcp":{},"9090/udp":{},"7000-7002/tcp":{}}; BuildKit {"7000/tcp":{},"7001/tcp":{},"7002/tcp":{},"8080/tcp":{},"9090/udp":{}}',
        'history 5: berth "EXPOSE 8080 9090/udp 7000-7002/tcp" (empty layer); BuildKit "EXPOSE [7000/tcp 7001/tcp 7002/tcp 8080/tcp 9090/udp]" (empty layer)',
        'history 7: berth "VOLUME [\\"/data\\",\\"/logs\\"]" (empty layer); BuildKit "VOLUME [/data /logs]" (empty layer)',
        'history 8: berth "VOLUME [\\"/cache\\",\\"/tmp/x\\"]" (empty layer); BuildKit "VOLUME [/cache /tmp/x]" (empty layer)',
        'history 10: berth "HEALTHCHECK {\\"Test\\":[\\"CMD-SHELL\\",\\"wget -q -O- localhost:8080 || exit 1\\"],\\"Interval\\":30000000000,\\"Timeout\\":5000000000,\\"StartPeriod\\":90000000000,\\"Retries\\":4}" (empty layer); BuildKit "HEALTHCHECK &{[\\"CMD-SHELL\\" \\"wget -q -O- localhost:8080 || exit 1\\"] \\"30s\\" \\"5s\\" \\"1m30s\\" \\"0s\\" \'\\\\x04\'}" (empty layer)',
        'history 11: berth "SHELL [\\"/bin/sh\\",\\"-ec\\"]" (empty layer); BuildKit "SHELL [/bin/sh -ec]" (empty layer)',
        'history 12: berth "ENTRYPOINT [\\"/bin/sh\\",\\"-ec\\",\\"/bin/echo started\\"]" (empty layer); BuildKit "ENTRYPOINT [\\"/bin/sh\\" \\"-ec\\" \\"/bin/echo started\\"]" (empty layer)',
        'history 13: berth "CMD [\\"--serve\\",\\"--port=8080\\"]" (empty layer); BuildKit "CMD [\\"--serve\\" \\"--port=8080\\"]" (empty layer)',
      ],
    },
  ],
  "ENTRYPOINT exec and CMD shell forms, HEALTHCHECK exec form then NONE": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "CMD [\\"/bin/sh\\",\\"-c\\",\\"echo \\\\\\"from cmd\\\\\\"\\"]" (empty layer); BuildKit "CMD [\\"/bin/sh\\" \\"-c\\" \\"echo \\\\\\"from cmd\\\\\\"\\"]" (empty layer)',
        'history 2: berth "ENTRYPOINT [\\"/bin/sh\\",\\"-c\\"]" (empty layer); BuildKit "ENTRYPOINT [\\"/bin/sh\\" \\"-c\\"]" (empty layer)',
        'history 3: berth "HEALTHCHECK {\\"Test\\":[\\"CMD\\",\\"/bin/true\\"]}" (empty layer); BuildKit "HEALTHCHECK &{[\\"CMD\\" \\"/bin/true\\"] \\"0s\\" \\"0s\\" \\"0s\\" \\"0s\\" \'\\\\x00\'}" (empty layer)',
        'history 4: berth "HEALTHCHECK {\\"Test\\":[\\"NONE\\"]}" (empty layer); BuildKit "HEALTHCHECK &{[\\"NONE\\"] \\"0s\\" \\"0s\\" \\"0s\\" \\"0s\\" \'\\\\x00\'}" (empty layer)',
        'history 5: berth "SHELL [\\"/bin/sh\\",\\"-xc\\"]" (empty layer); BuildKit "SHELL [/bin/sh -xc]" (empty layer)',
        'history 6: berth "CMD [\\"/bin/sh\\",\\"-xc\\",\\"echo shell form under a new SHELL\\"]" (empty layer); BuildKit "CMD [\\"/bin/sh\\" \\"-xc\\" \\"echo shell form under a new SHELL\\"]" (empty layer)',
      ],
    },
  ],
  "ARG and ENV scoping": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "RUN /bin/sh -c echo \\"[$VERSION]\\" > /second.txt"; BuildKit "RUN /bin/sh -c echo \\"[$VERSION]\\" > /second.txt # buildkit"',
        'history 2: berth "RUN |1 VERSION=2 /bin/sh -c echo \\"[$VERSION]\\" > /third.txt"; BuildKit "ARG VERSION=2" (empty layer)',
        'history 3: berth "COPY --from=one /args.txt /args.txt"; BuildKit "RUN |1 VERSION=2 /bin/sh -c echo \\"[$VERSION]\\" > /third.txt # buildkit"',
        'history 4: berth none; BuildKit "COPY /args.txt /args.txt # buildkit"',
      ],
    },
  ],
  "multi-stage: COPY --from by name and index, FROM a stage, an unused stage, --target": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY --from=build /out/built.txt /app/built.txt"; BuildKit "COPY /out/built.txt /app/built.txt # buildkit"',
        'history 2: berth "COPY --from=0 /src /app/src"; BuildKit "COPY /src /app/src # buildkit"',
        'history 3: berth "COPY --from=derived /out /app/out/"; BuildKit "COPY /out /app/out/ # buildkit"',
        'history 4: berth "COPY --from=derived /out/sub/s /out/derived.txt /app/many/"; BuildKit "COPY /out/sub/s /out/derived.txt /app/many/ # buildkit"',
      ],
    },
  ],
  heredocs: [
    {
      why: "open: not yet matched",
      lines: [
        'history 2: berth "RUN /bin/sh -c echo one > /one\\necho \\"$NAME\\" > /name\\n"; BuildKit "RUN /bin/sh -c echo one > /one\\necho \\"$NAME\\" > /name\\n # buildkit"',
        'history 3: berth "RUN /bin/sh -c cat <<EOF > /inline\\ninline $NAME\\nEOF"; BuildKit "RUN /bin/sh -c cat <<EOF > /inline\\ninline $NAME\\nEOF # buildkit"',
        "history 4: berth \"RUN /bin/sh -c <<EOF sh -c 'cat > /piped'\\npiped\\nEOF\"; BuildKit \"RUN /bin/sh -c <<EOF sh -c 'cat > /piped'\\npiped\\nEOF # buildkit\"",
        'history 5: berth "COPY <<EOF /etc/expanded"; BuildKit "COPY <<EOF /etc/expanded # buildkit"',
        'history 6: berth "COPY <<EOF /etc/literal"; BuildKit "COPY <<EOF /etc/literal # buildkit"',
        'history 7: berth "COPY <<-EOF /etc/tabs"; BuildKit "COPY <<EOF /etc/tabs # buildkit"',
      ],
    },
  ],
  ".dockerignore": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY . /ctx/"; BuildKit "COPY . /ctx/ # buildkit"',
        'history 2: berth "COPY src /only-src"; BuildKit "COPY src /only-src # buildkit"',
      ],
    },
  ],
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
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY hl /hl/"; BuildKit "COPY hl /hl/ # buildkit"',
        'history 2: berth "COPY --from=links /made /made/"; BuildKit "COPY /made /made/ # buildkit"',
        'history 3: berth "RUN /bin/sh -c echo y > /run-one && ln /run-one /run-two"; BuildKit "RUN /bin/sh -c echo y > /run-one && ln /run-one /run-two # buildkit"',
      ],
    },
  ],
  symlinks: [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY --from=0 /real /from-stage/real"; BuildKit "COPY /real /from-stage/real # buildkit"',
        'history 2: berth "COPY --from=0 /run-link /from-stage/run-link"; BuildKit "COPY /run-link /from-stage/run-link # buildkit"',
        'history 3: berth "COPY --from=0 /d /from-stage/d"; BuildKit "COPY /d /from-stage/d # buildkit"',
      ],
    },
  ],
  "whiteouts: deletions, opaque directories and overwrites across layers": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY a.txt /data/a.txt"; BuildKit "COPY a.txt /data/a.txt # buildkit"',
        'history 2: berth "COPY dir /data/dir/"; BuildKit "COPY dir /data/dir/ # buildkit"',
        'history 3: berth "RUN /bin/sh -c rm /data/a.txt /etc/motd && rm -r /var/lib/old && rm /data/dir/b.txt"; BuildKit "RUN /bin/sh -c rm /data/a.txt /etc/motd && rm -r /var/lib/old && rm /data/dir/b.txt # buildkit"',
        'history 4: berth "RUN /bin/sh -c mkdir /var/lib/old && echo new > /var/lib/old/fresh"; BuildKit "RUN /bin/sh -c mkdir /var/lib/old && echo new > /var/lib/old/fresh # buildkit"',
        'history 5: berth "RUN /bin/sh -c rm -r /data/dir && mkdir /data/dir && echo d > /data/dir/d.txt"; BuildKit "RUN /bin/sh -c rm -r /data/dir && mkdir /data/dir && echo d > /data/dir/d.txt # buildkit"',
        'history 6: berth "COPY motd /etc/motd"; BuildKit "COPY motd /etc/motd # buildkit"',
        'history 7: berth "RUN /bin/sh -c rm /bin/sort /bin/find && echo gone > /bin/find"; BuildKit "RUN /bin/sh -c rm /bin/sort /bin/find && echo gone > /bin/find # buildkit"',
      ],
    },
  ],
  "ownership: --chown, USER, RUN as a user": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY --chown=app:app conf /etc/conf/"; BuildKit "COPY --chown=app:app conf /etc/conf/ # buildkit"',
        'history 2: berth "COPY --chown=1000:1000 run.sh /home/app/bin/run.sh"; BuildKit "COPY --chown=1000:1000 run.sh /home/app/bin/run.sh # buildkit"',
        'history 3: berth "COPY --chown=app run.sh /opt/new/dir/run.sh"; BuildKit "COPY --chown=app run.sh /opt/new/dir/run.sh # buildkit"',
        'history 4: berth "COPY --chown=2000:3000 conf /numeric/"; BuildKit "COPY --chown=2000:3000 conf /numeric/ # buildkit"',
        'history 5: berth "ADD --chown=app:app conf /added/"; BuildKit "ADD --chown=app:app conf /added/ # buildkit"',
        'history 7: berth "COPY run.sh /as-user/run.sh"; BuildKit "COPY run.sh /as-user/run.sh # buildkit"',
        'history 8: berth "RUN /bin/sh -c mkdir -p /tmp/u/v && echo mine > /tmp/u/v/mine && id > /tmp/u/id"; BuildKit "RUN /bin/sh -c mkdir -p /tmp/u/v && echo mine > /tmp/u/v/mine && id > /tmp/u/id # buildkit"',
        'history 10: berth "RUN /bin/sh -c touch /tmp/u/numeric"; BuildKit "RUN /bin/sh -c touch /tmp/u/numeric # buildkit"',
      ],
    },
  ],
  "WORKDIR creation": [
    {
      why: "open: not yet matched",
      lines: [
        'history 5: berth "RUN /bin/sh -c pwd > here"; BuildKit "RUN /bin/sh -c pwd > here # buildkit"',
        'history 6: berth "WORKDIR /etc" (empty layer); BuildKit "WORKDIR /etc"',
        'history 9: berth "WORKDIR /var/lib/old" (empty layer); BuildKit "WORKDIR /var/lib/old"',
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
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "ADD pkg.tar.gz /opt/"; BuildKit "ADD pkg.tar.gz /opt/ # buildkit"',
        'history 2: berth "ADD root.tar /srv/"; BuildKit "ADD root.tar /srv/ # buildkit"',
        'history 3: berth "ADD pkg.tar.bz2 /bz/"; BuildKit "ADD pkg.tar.bz2 /bz/ # buildkit"',
        'history 4: berth "ADD plain.txt /srv/plain.txt"; BuildKit "ADD plain.txt /srv/plain.txt # buildkit"',
        'history 5: berth "ADD dir /added-dir/"; BuildKit "ADD dir /added-dir/ # buildkit"',
        'history 6: berth "ADD plain.txt dir /many/"; BuildKit "ADD plain.txt dir /many/ # buildkit"',
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
        "/run: only in BuildKit (dir 755 0:0)",
        "/run/secrets: only in BuildKit (dir 755 0:0)",
        "/s: only in BuildKit (dir 755 0:0)",
        "/scratch: only in BuildKit (dir 755 0:0)",
        "/var/cache: only in BuildKit (dir 755 0:0)",
        "/var/cache/app: only in BuildKit (dir 755 0:0)",
      ],
    },
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "RUN /bin/sh -c cat /ctx/input/data.txt > /bound.txt"; BuildKit "RUN /bin/sh -c cat /ctx/input/data.txt > /bound.txt # buildkit"',
        'history 2: berth "RUN /bin/sh -c cat /in/data.txt > /source.txt"; BuildKit "RUN /bin/sh -c cat /in/data.txt > /source.txt # buildkit"',
        'history 3: berth "RUN /bin/sh -c cat /s/file > /from-stage.txt"; BuildKit "RUN /bin/sh -c cat /s/file > /from-stage.txt # buildkit"',
        'history 4: berth "RUN /bin/sh -c echo x >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs"; BuildKit "RUN /bin/sh -c echo x >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs # buildkit"',
        'history 5: berth "RUN /bin/sh -c echo y > /c1/y"; BuildKit "RUN /bin/sh -c echo y > /c1/y # buildkit"',
        'history 6: berth "RUN /bin/sh -c cat /c2/y > /cache-shared.txt"; BuildKit "RUN /bin/sh -c cat /c2/y > /cache-shared.txt # buildkit"',
        'history 7: berth "RUN /bin/sh -c wc -c < /run/secrets/token > /secret-size"; BuildKit "RUN /bin/sh -c wc -c < /run/secrets/token > /secret-size # buildkit"',
        'history 8: berth "RUN /bin/sh -c cat /etc/tok > /secret-copy"; BuildKit "RUN /bin/sh -c cat /etc/tok > /secret-copy # buildkit"',
        'history 9: berth "RUN /bin/sh -c echo t > /scratch/t && ls /scratch > /tmpfs.txt"; BuildKit "RUN /bin/sh -c echo t > /scratch/t && ls /scratch > /tmpfs.txt # buildkit"',
        'history 10: berth "RUN /bin/sh -c echo offline > /net.txt"; BuildKit "RUN /bin/sh -c echo offline > /net.txt # buildkit"',
      ],
    },
  ],
  "COPY flags: --chmod, --link, wildcards": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "COPY --chmod=600 bin/a.sh /secure/a.sh"; BuildKit "COPY --chmod=600 bin/a.sh /secure/a.sh # buildkit"',
        'history 2: berth "COPY --chmod=755 conf /conf-exec/"; BuildKit "COPY --chmod=755 conf /conf-exec/ # buildkit"',
        'history 3: berth "COPY --chown=app:app --chmod=640 conf/x.conf /owned/"; BuildKit "COPY --chown=app:app --chmod=640 conf/x.conf /owned/ # buildkit"',
        'history 4: berth "COPY bin /linked/"; BuildKit "COPY bin /linked/ # buildkit"',
        'history 5: berth "COPY bin/*.sh conf/?.conf /wild/"; BuildKit "COPY bin/*.sh conf/?.conf /wild/ # buildkit"',
        'history 6: berth "COPY --chmod=700 conf/x.conf /linked-chmod"; BuildKit "COPY --chmod=700 conf/x.conf /linked-chmod # buildkit"',
      ],
    },
  ],
  "ONBUILD triggers run in a child stage and are not inherited further": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "ONBUILD COPY marker.txt /onbuild-marker" (empty layer); BuildKit "COPY marker.txt /onbuild-marker # buildkit"',
        'history 2: berth "ONBUILD RUN echo triggered > /triggered" (empty layer); BuildKit "RUN /bin/sh -c echo triggered > /triggered # buildkit"',
        'history 3: berth "COPY marker.txt /onbuild-marker"; BuildKit "RUN /bin/sh -c echo child > /child # buildkit"',
        'history 4: berth "RUN /bin/sh -c echo triggered > /triggered"; BuildKit none',
        'history 5: berth "RUN /bin/sh -c echo child > /child"; BuildKit none',
      ],
    },
  ],
  "ONBUILD in the final image": [
    {
      why: "open: not yet matched",
      lines: [
        'history 1: berth "ONBUILD RUN echo later" (empty layer); BuildKit none',
        'history 2: berth "ONBUILD ENV LATER=1" (empty layer); BuildKit none',
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
    {
      why: "open: not yet matched",
      lines: [
        'history 0: berth "COPY hello.txt /"; BuildKit "COPY hello.txt / # buildkit"',
        'history 1: berth "COPY --from=base /bin/busybox /bin/busybox"; BuildKit "COPY /bin/busybox /bin/busybox # buildkit"',
        'history 3: berth "CMD [\\"/bin/busybox\\",\\"cat\\",\\"/hello.txt\\"]" (empty layer); BuildKit "CMD [\\"/bin/busybox\\" \\"cat\\" \\"/hello.txt\\"]" (empty layer)',
      ],
    },
  ],
};
