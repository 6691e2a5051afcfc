/**
 * A Docker image config as skopeo 1.9.3 writes it when it converts the image to OCI (containers/image 5.23's
 * `OCIConfig()` then `json.Marshal`): the bytes decoded as Go's `encoding/json` decodes them into image-spec's
 * `v1.Image` (keys matched exactly, else without case; every field Docker has and OCI has not dropped; a null
 * string or bool left empty) and encoded as Go 1.19's encoder does (the struct's field order, `omitempty`, map
 * keys sorted by their UTF-8 bytes, `<`, `>`, `&`, U+2028/9 and control bytes as `\u` escapes, times in RFC 3339
 * with nanoseconds and trailing zeros cut). A value of the wrong type fails, as Go's decoder makes skopeo fail.
 */
import { BerthError } from "../errors.ts";
import { goString } from "../util/go-json.ts";

/** The Go types image-spec's structs are made of. */
type Kind =
  | { kind: "string" }
  | { kind: "bool" }
  | { kind: "time" }
  | { kind: "strings" }
  | { kind: "set" }
  | { kind: "labels" }
  | { kind: "struct"; fields: readonly Field[] }
  | { kind: "list"; of: readonly Field[] };

/** A struct field: its JSON name, its type, and whether `omitempty` leaves it out when empty. */
type Field = readonly [name: string, type: Kind, omitEmpty: boolean];

const STRING: Kind = { kind: "string" };
const BOOL: Kind = { kind: "bool" };
const TIME: Kind = { kind: "time" };
const STRINGS: Kind = { kind: "strings" };
const SET: Kind = { kind: "set" };
const NOTHING: Kind = { kind: "struct", fields: [] };

/** image-spec's `v1.History`. */
const HISTORY: readonly Field[] = [
  ["created", TIME, true],
  ["created_by", STRING, true],
  ["author", STRING, true],
  ["comment", STRING, true],
  ["empty_layer", BOOL, true],
];

/** image-spec's `v1.ImageConfig`. */
const CONTAINER: readonly Field[] = [
  ["User", STRING, true],
  ["ExposedPorts", SET, true],
  ["Env", STRINGS, true],
  ["Entrypoint", STRINGS, true],
  ["Cmd", STRINGS, true],
  ["Volumes", SET, true],
  ["WorkingDir", STRING, true],
  ["Labels", { kind: "labels" }, true],
  ["StopSignal", STRING, true],
  ["ArgsEscaped", BOOL, true],
];

/** image-spec's `v1.Image` in the version skopeo 1.9.3 carries (checked against its output). */
const IMAGE: readonly Field[] = [
  ["created", TIME, true],
  ["author", STRING, true],
  ["architecture", STRING, false],
  ["variant", STRING, true],
  ["os", STRING, false],
  ["os.version", STRING, true],
  ["os.features", STRINGS, true],
  // a struct is never empty to Go's omitempty
  ["config", { kind: "struct", fields: CONTAINER }, false],
  [
    "rootfs",
    {
      kind: "struct",
      fields: [
        ["type", STRING, false],
        ["diff_ids", STRINGS, false],
      ],
    },
    false,
  ],
  ["history", { kind: "list", of: HISTORY }, true],
];

/** A decoded value: Go's nil slice or map is null, a nil time pointer undefined. */
type Value = string | boolean | undefined | null | string[] | Map<string, string> | Decoded | Decoded[];
interface Decoded {
  [field: string]: Value;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Go's case folding of a key against a field name (ASCII, and the Kelvin sign and long s it also folds). */
const fold = (s: string) =>
  s
    .replace(/\u212a/g, "k")
    .replace(/\u017f/g, "s")
    .toLowerCase();

function fieldFor(fields: readonly Field[], key: string): Field | undefined {
  return fields.find((f) => f[0] === key) ?? fields.find((f) => fold(f[0]) === fold(key));
}

function zero(fields: readonly Field[]): Decoded {
  const out: Decoded = {};
  for (const [name, type] of fields) {
    out[name] =
      type.kind === "string"
        ? ""
        : type.kind === "bool"
          ? false
          : type.kind === "time"
            ? undefined
            : type.kind === "struct"
              ? zero(type.fields)
              : null;
  }
  return out;
}

/** `value` decoded into `current` as Go decodes into a field of `type`; `at` names the field for errors. */
function decode(type: Kind, value: unknown, current: Value, at: string): Value {
  const wrong = (): never => {
    throw new BerthError("MANIFEST_INVALID", `${at} cannot be read as OCI's: it is ${JSON.stringify(value)}`);
  };
  if (value === null) {
    if (type.kind === "time") return undefined;
    if (type.kind === "string" || type.kind === "bool" || type.kind === "struct") return current;
    return null;
  }
  switch (type.kind) {
    case "string":
      return typeof value === "string" ? value : wrong();
    case "bool":
      return typeof value === "boolean" ? value : wrong();
    case "time":
      return typeof value === "string" ? goTimeText(value, at) : wrong();
    case "strings":
      if (!Array.isArray(value)) return wrong();
      return value.map((v, i) => decode(STRING, v, "", `${at}[${i}]`) as string);
    case "set":
    case "labels": {
      if (!isPlainObject(value)) return wrong();
      // Go decodes into the map already there
      const map = new Map(current instanceof Map ? current : []);
      for (const [k, v] of Object.entries(value)) {
        if (type.kind === "labels")
          map.set(k, decode(STRING, v, "", `${at}[${JSON.stringify(k)}]`) as string);
        else {
          // a struct{}: any object (its fields ignored) or null
          decode(NOTHING, v, {}, `${at}[${JSON.stringify(k)}]`);
          map.set(k, "");
        }
      }
      return map;
    }
    case "struct": {
      if (!isPlainObject(value)) return wrong();
      const out: Decoded = { ...(current as Decoded) };
      for (const [k, v] of Object.entries(value)) {
        const f = fieldFor(type.fields, k);
        if (f) out[f[0]] = decode(f[1], v, out[f[0]], `${at}.${k}`);
      }
      return out;
    }
    case "list":
      if (!Array.isArray(value)) return wrong();
      return value.map(
        (v, i) => decode({ kind: "struct", fields: type.of }, v, zero(type.of), `${at}[${i}]`) as Decoded,
      );
    default:
      return type satisfies never;
  }
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** An RFC 3339 time as Go's `time.Time` reads it and writes it back (RFC 3339 with up to 9 digits of second). */
function goTimeText(text: string, at: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const [year, month, day, hour, minute, second] = (m?.slice(1, 7) ?? []).map(Number) as number[];
  const leap = year! % 4 === 0 && (year! % 100 !== 0 || year! % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS[month! - 1];
  if (!m || !days || day! < 1 || day! > days || hour! > 23 || minute! > 59 || second! > 59)
    throw new BerthError("MANIFEST_INVALID", `${at} is not an RFC 3339 time: ${JSON.stringify(text)}`);
  const nanos = (m[7] ?? "").slice(0, 9).replace(/0+$/, "");
  const zone = /^[+-]00:00$/.test(m[8]!) ? "Z" : m[8];
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]!.padStart(2, "0")}:${m[5]}:${m[6]}${nanos ? `.${nanos}` : ""}${zone}`;
}

/** A string as skopeo 1.9.3 (Go 1.19) writes it. */
const str = (s: string) => goString(s, true);

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Whether Go's `omitempty` leaves out a value. */
function empty(v: Value): boolean {
  if (v === undefined || v === null || v === "" || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return v instanceof Map && v.size === 0;
}

function encode(type: Kind, v: Value): string {
  switch (type.kind) {
    case "string":
    case "time":
      return str(v as string);
    case "bool":
      return String(v);
    case "strings":
      return v === null ? "null" : `[${(v as string[]).map((x) => str(x)).join(",")}]`;
    case "set":
    case "labels": {
      if (v === null) return "null";
      const map = v as Map<string, string>;
      const keys = [...map.keys()].sort(byUtf8);
      const value = (k: string) => (type.kind === "set" ? "{}" : str(map.get(k)!));
      return `{${keys.map((k) => `${str(k)}:${value(k)}`).join(",")}}`;
    }
    case "struct": {
      const d = v as Decoded;
      const parts = type.fields
        .filter(([name, , omit]) => !(omit && empty(d[name])))
        .map(([name, t]) => `${str(name)}:${encode(t, d[name])}`);
      return `{${parts.join(",")}}`;
    }
    case "list":
      if (v === null) return "null";
      return `[${(v as Decoded[]).map((e) => encode({ kind: "struct", fields: type.of }, e)).join(",")}]`;
    default:
      return type satisfies never;
  }
}

/** `bytes`, a Docker image config, as skopeo writes it for an OCI manifest; `what` names it for errors. */
export function ociConfigAsGo(bytes: Uint8Array, what: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new BerthError("MANIFEST_INVALID", `${what} is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(doc)) throw new BerthError("MANIFEST_INVALID", `${what} is not a JSON object`);
  const image: Kind = { kind: "struct", fields: IMAGE };
  return Buffer.from(encode(image, decode(image, doc, zero(IMAGE), what)));
}
