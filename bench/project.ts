/**
 * The multi-stage project bench/buildkit.ts and bench/cache-fresh.ts build: deps, build, test and final stages
 * (`COPY --from`, RUN steps with busybox), 8 × 64 KiB deps, 61 source files and 200 static files.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/** The project's Dockerfile FROM `base`, with `finalSteps` (whole lines) added to the final stage. */
export function projectDockerfile(base: string, finalSteps = ""): string {
  return `FROM ${base} AS deps
COPY deps/ /deps/
RUN mkdir -p /out && cd /deps && /bin/busybox sha256sum * > /out/deps.lock
FROM ${base} AS build
COPY --from=deps /out/deps.lock /build/deps.lock
COPY src/ /src/
RUN mkdir -p /out && cat /src/*.c > /out/app.c && /bin/busybox gzip -9 -c /out/app.c > /out/app.gz && /bin/busybox sha256sum /out/app.gz > /out/app.sum
FROM ${base} AS test
COPY --from=build /out/ /out/
RUN test -s /out/app.gz && /bin/busybox sha256sum -c /out/app.sum > /tested
FROM ${base}
COPY --from=build /out/app.gz /usr/local/lib/app.gz
COPY --from=test /tested /usr/local/lib/tested
COPY static/ /srv/static/
${finalSteps}ENV APP_HOME=/srv
WORKDIR /srv
EXPOSE 8080
CMD ["/bin/cat", "/usr/local/lib/tested"]
`;
}

/** Deterministic pseudo-random text. */
function text(seed: number, bytes: number): string {
  let x = seed * 2654435761;
  const words = [
    "int",
    "return",
    "static",
    "const",
    "struct",
    "void",
    "char",
    "if",
    "for",
    "while",
    "buf",
    "len",
  ];
  let out = "";
  while (out.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += `${words[x % words.length]}${x % 7 === 0 ? ";\n" : " "}`;
  }
  return out;
}

export async function writeProject(ctx: string): Promise<void> {
  const put = async (p: string, content: string) => {
    await mkdir(dirname(join(ctx, p)), { recursive: true });
    await writeFile(join(ctx, p), content);
  };
  for (let i = 0; i < 8; i++) await put(`deps/dep${i}.tar`, text(1000 + i, 64 * 1024));
  for (let i = 0; i < 60; i++) await put(`src/mod${String(i).padStart(2, "0")}.c`, text(i, 8 * 1024));
  await put("src/main.c", "int main(void) { return 0; }\n");
  for (let i = 0; i < 200; i++) await put(`static/d${i % 10}/f${i}.txt`, text(5000 + i, 4 * 1024));
}
