/**
 * buildx's information requests other than the checks: `--call outline` and `--call targets` (BuildKit's
 * frontend.outline and frontend.targets subrequests), answered from the Dockerfile alone with nothing built: the
 * result JSON (what `format=json` prints) and buildx's text of it.
 */
import type { Platform } from "../oci/platform.ts";
import { hostPlatform } from "../oci/platform.ts";
import type { TransportContext } from "../transport/context.ts";
import { BaseImages } from "./bases.ts";
import type { CheckInputs } from "./check.ts";
import { findContext } from "./named-context.ts";
import { outlineDockerfile, outlineJson, outlineText } from "./outline.ts";
import { readDockerfile } from "./read.ts";
import { splitStages } from "./stage.ts";
import { listTargets, targetsJson, targetsText } from "./targets.ts";

export type Subrequest = "outline" | "targets";

export interface SubrequestResult {
  /** result.json, as BuildKit marshals it. */
  json: string;
  /** What buildx prints of it. */
  text: string;
}

/** Answer `what`; `ctx` opens the images the target's stages start FROM (outline: their ENV). */
export async function callSubrequest(
  what: Subrequest,
  i: CheckInputs,
  ctx: TransportContext,
): Promise<SubrequestResult> {
  const df = await readDockerfile(i);
  switch (what) {
    case "outline": {
      const plan = splitStages(df);
      const platform: Platform = i.platform ?? hostPlatform();
      const bases = new BaseImages(ctx, i.pull === true);
      try {
        const o = await outlineDockerfile({
          df,
          plan,
          buildArgs: i.buildArgs ?? {},
          target: i.target,
          platform,
          buildPlatform: hostPlatform(),
          image: (ref, p) => bases.config(ref, p, findContext(i.contexts, ref, p)),
        });
        return { json: outlineJson(o), text: outlineText(o) };
      } finally {
        await bases.close();
      }
    }
    case "targets": {
      const l = listTargets(df, splitStages(df, true));
      return { json: targetsJson(l), text: targetsText(l) };
    }
    default: {
      const never: never = what;
      throw new Error(`unknown subrequest ${String(never)}`);
    }
  }
}
