/**
 * The Dockerfile engine `build` (and so `berth build`) gives the CNB image extensions (src/cnb/phase/extend.ts
 * asks for a `DockerfileEngine`; src/cnb may not import src/dockerfile, so the library layer above both joins
 * them): extensions' Dockerfiles are parsed by src/dockerfile's parser and applied by `DockerfileBuild`, with
 * its step cache, RUN in berth's sandbox and the build's network.
 */
import type { DockerfileEngine } from "../cnb/index.ts";
import { DockerfileBuild, parseDockerfile, splitStages } from "../dockerfile/index.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import type { NetworkMode } from "../runtime/index.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSource } from "../transport/open.ts";
import { parseImageArgument } from "../transport/parse.ts";

export function dockerfileEngine(
  ctx: TransportContext,
  o: { network?: NetworkMode | undefined; runtime?: string | undefined; searchPath?: string | undefined },
): DockerfileEngine {
  return {
    parse(text, name) {
      const plan = splitStages(parseDockerfile(text, name));
      return {
        globalArgs: plan.globalArgs.flatMap((ins) =>
          ins.args
            .split(/\s+/)
            .filter(Boolean)
            .map((w) => ({ name: w.split("=")[0]!, line: ins.line })),
        ),
        stages: plan.stages.map((s) => ({
          base: s.baseText,
          line: s.from.line,
          instructions: s.instructions.map((ins) => ({ keyword: ins.keyword, line: ins.line })),
        })),
      };
    },
    async apply(req) {
      await new DockerfileBuild(
        {
          contextDir: req.contextDir,
          dockerfile: { text: req.text, name: req.name },
          buildArgs: req.buildArgs,
          destinations: [parseImageArgument(req.destination)],
          network: o.network,
          runtime: o.runtime || undefined,
          searchPath: o.searchPath || undefined,
          log: req.log,
          onOutput: req.onOutput,
          signal: req.signal,
        },
        ctx,
      ).build();
    },
    async open(text) {
      const opened = await openSource(parseImageArgument(text), ctx);
      try {
        return { image: await selectImage(await loadRoot(opened.source, opened.root)), close: opened.close };
      } catch (err) {
        await opened.close();
        throw err;
      }
    },
  };
}
