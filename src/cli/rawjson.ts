/**
 * buildx's `--progress rawjson` (buildx ≥ 0.13, BuildKit's progressui rawJSONDisplay): a Dockerfile build's progress
 * as one JSON object a line, each a `client.SolveStatus` (github.com/moby/buildkit/client, graph.go) as Go's
 * encoding/json writes it (`vertexes`, `statuses`, `logs`, `warnings`): the fields in the structs' order, their json tags' names, `omitempty` ones left out
 * when empty, times as RFC 3339 (to the microsecond) with the fraction's trailing zeros cut, log data in base64, `<`, `>`, `&`, U+2028
 * and U+2029 escaped. Each update is written as it happens; a vertex is sent whole each time it changes, as
 * BuildKit does. README: "berth build".
 */
import type { StepEvent } from "../dockerfile/index.ts";
import { goString, goTime } from "../util/go-json.ts";

/** A vertex as it stands (client.Vertex's fields; no progressGroup). */
interface Vertex {
  digest: string;
  inputs: readonly string[];
  name: string;
  started: number;
  completed?: number | undefined;
  cached?: boolean | undefined;
  error?: string | undefined;
}

/** Go's `context.Canceled.Error()`: progressui prints a vertex whose error ends so as CANCELED. */
const CANCELED = "context canceled";

/** Writes the solve status of each step event, a line at a time, to `write`. */
export class SolveStatusWriter {
  readonly #write: (line: string) => void;
  readonly #vertexes = new Map<string, Vertex>();

  constructor(write: (line: string) => void) {
    this.#write = write;
  }

  readonly onStep = (e: StepEvent): void => {
    switch (e.type) {
      case "start": {
        const v: Vertex = { digest: e.vertex, inputs: e.inputs, name: e.name, started: e.at };
        this.#vertexes.set(e.vertex, v);
        this.#write(solveStatus({ vertexes: [vertexJson(v)] }));
        return;
      }
      case "done":
      case "error": {
        const v = this.#vertexes.get(e.vertex);
        if (!v) return;
        v.completed = e.at;
        if (e.type === "done") v.cached = e.cached;
        else v.error = e.error ?? CANCELED;
        this.#write(solveStatus({ vertexes: [vertexJson(v)] }));
        return;
      }
      case "log":
        this.#write(
          solveStatus({
            logs: [
              `{"vertex":${goString(e.vertex)},"stream":${e.stream === "stdout" ? 1 : 2},"data":"${e.data.toString("base64")}","timestamp":${time(e.at)}}`,
            ],
          }),
        );
        return;
      case "status":
        this.#write(solveStatus({ statuses: [statusJson(e)] }));
        return;
      case "warning":
        this.#write(solveStatus({ warnings: [warningJson(e)] }));
        return;
      default:
        e satisfies never;
    }
  };
}

/**
 * client.VertexWarning: vertex, level (BuildKit's build checks are level 1), short, detail (bytes each), url,
 * range (one a line, as BuildKit's Dockerfile locations); no sourceInfo (its LLB definition is BuildKit's own).
 */
function warningJson(e: Extract<StepEvent, { type: "warning" }>): string {
  const b64 = (s: string) => `"${Buffer.from(s).toString("base64")}"`;
  let out = `{"vertex":${goString(e.vertex)},"level":1,"short":${b64(e.short)}`;
  if (e.detail?.length) out += `,"detail":[${e.detail.map(b64).join(",")}]`;
  if (e.url) out += `,"url":${goString(e.url)}`;
  if (e.lines) {
    const ranges: string[] = [];
    for (let l = e.lines.start; l <= Math.max(e.lines.start, e.lines.end); l++) {
      ranges.push(`{"start":{"line":${l}},"end":{"line":${l}}}`);
    }
    out += `,"range":[${ranges.join(",")}]`;
  }
  return `${out}}`;
}

/** A SolveStatus line of encoded parts (each list left out when empty, as `omitempty`). */
function solveStatus(s: {
  vertexes?: string[];
  statuses?: string[];
  logs?: string[];
  warnings?: string[];
}): string {
  const fields: string[] = [];
  if (s.vertexes?.length) fields.push(`"vertexes":[${s.vertexes.join(",")}]`);
  if (s.statuses?.length) fields.push(`"statuses":[${s.statuses.join(",")}]`);
  if (s.logs?.length) fields.push(`"logs":[${s.logs.join(",")}]`);
  if (s.warnings?.length) fields.push(`"warnings":[${s.warnings.join(",")}]`);
  return `{${fields.join(",")}}\n`;
}

/** A time as Go marshals it, quoted. */
const time = (ms: number) => `"${goTime(ms)}"`;

/** client.Vertex: digest, inputs, name, started, completed, cached, error (all `omitempty`). */
function vertexJson(v: Vertex): string {
  const fields = [`"digest":${goString(v.digest)}`];
  if (v.inputs.length) fields.push(`"inputs":[${v.inputs.map((d) => goString(d)).join(",")}]`);
  if (v.name) fields.push(`"name":${goString(v.name)}`);
  fields.push(`"started":${time(v.started)}`);
  if (v.completed !== undefined) fields.push(`"completed":${time(v.completed)}`);
  if (v.cached) fields.push(`"cached":true`);
  if (v.error) fields.push(`"error":${goString(v.error)}`);
  return `{${fields.join(",")}}`;
}

/** client.VertexStatus: id, vertex, name, total, current (always), timestamp (always), started, completed. */
function statusJson(e: Extract<StepEvent, { type: "status" }>): string {
  const fields = [`"id":${goString(e.id)}`, `"vertex":${goString(e.vertex)}`];
  if (e.total) fields.push(`"total":${e.total}`);
  fields.push(`"current":${e.current}`, `"timestamp":${time(e.at)}`, `"started":${time(e.started)}`);
  if (e.completed !== undefined) fields.push(`"completed":${time(e.completed)}`);
  return `{${fields.join(",")}}`;
}
