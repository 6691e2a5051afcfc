/**
 * `-o`/`--output` values in BuildKit's (buildx's) CSV form. `type=local,dest=DIR` and `type=tar,dest=FILE|-`
 * export the target stage's filesystem (no image); `type=image|registry|oci|docker` name an image destination
 * berth already has (the store, a registry, an oci-archive/OCI layout, a docker-archive), with BuildKit's
 * `annotation[-TYPE][PLATFORM].KEY=VALUE` attributes (annotation-spec.ts). buildx's shorthands:
 * `-o DIR` is `type=local,dest=DIR`, `-o -` is `type=tar,dest=-`. An unknown type or key, a missing `dest`
 * or `name`, or a value berth cannot honour is an error naming the flag and the value.
 */
import { type Annotation, annotationAttribute } from "./annotation-spec.ts";
import { attributes, bool, usage } from "./cache-spec.ts";

export type OutputSpec =
  /**
   * The filesystem into DIR; `split`: into DIR/os_arch[_variant] per platform (default: with several);
   * `prefix`: `attestation-prefix`, before the name of an attestation's file.
   */
  | { type: "local"; dest: string; split: boolean | undefined; prefix: string | undefined; text: string }
  /** The filesystem as one tar; `-` is standard output. */
  | { type: "tar"; dest: string; prefix: string | undefined; text: string }
  /**
   * The image, to `destination` (an image argument: a store name, `docker://`, `oci-archive:`…), with the
   * annotations its attributes give.
   */
  | { type: "image"; destination: string; annotations: Annotation[]; text: string };

const FLAG = "-o";
const KEYS: Record<string, readonly string[]> = {
  local: ["type", "dest", "platform-split", "attestation-prefix"],
  tar: ["type", "dest", "attestation-prefix"],
  image: ["type", "name", "push"],
  registry: ["type", "name"],
  oci: ["type", "dest", "name", "tar"],
  docker: ["type", "dest", "name"],
};

/** One `-o` value. */
export function parseOutput(value: string): OutputSpec {
  if (!value.includes("=")) {
    if (value === "") throw usage(FLAG, value, "is empty", "give -o DIR, -o - or -o type=local,dest=DIR");
    return value === "-"
      ? { type: "tar", dest: "-", prefix: undefined, text: value }
      : { type: "local", dest: value, split: undefined, prefix: undefined, text: value };
  }
  const a = attributes(FLAG, value);
  const type = a.get("type");
  if (type === undefined)
    throw usage(FLAG, value, "needs type= (local, tar, image, registry, oci or docker)");
  const keys = KEYS[type];
  if (!keys)
    throw usage(
      FLAG,
      value,
      `type=${type} is not an exporter berth has (local, tar, image, registry, oci, docker)`,
    );
  const annotations: Annotation[] = [];
  for (const [k, v] of a) {
    const annotation =
      type === "local" || type === "tar" ? undefined : annotationAttribute(k, v, `-o ${value}`);
    if (annotation) annotations.push(annotation);
    else if (!keys.includes(k))
      throw usage(FLAG, value, `unknown key ${JSON.stringify(k)} for type=${type} (${keys.join(", ")})`);
  }
  const dest = a.get("dest");
  const name = a.get("name");
  const needs = (what: string, hint: string) => usage(FLAG, value, `type=${type} needs ${what}`, hint);
  switch (type) {
    case "local":
      if (!dest) throw needs("dest=DIR", "-o type=local,dest=out (or -o out)");
      if (dest === "-")
        throw usage(
          FLAG,
          value,
          "a folder export cannot go to standard output",
          "-o type=tar,dest=- (or -o -)",
        );
      return {
        type,
        dest,
        split: a.has("platform-split")
          ? bool(FLAG, value, "platform-split", a.get("platform-split"), true)
          : undefined,
        prefix: a.get("attestation-prefix"),
        text: value,
      };
    case "tar":
      if (!dest)
        throw needs("dest=FILE (- for standard output)", "-o type=tar,dest=out.tar (or -o - > out.tar)");
      return { type, dest, prefix: a.get("attestation-prefix"), text: value };
    case "image":
    case "registry": {
      if (!name) throw needs("name=IMAGE", `-o type=${type},name=registry.example/app:1`);
      const push = type === "registry" || bool(FLAG, value, "push", a.get("push"), false);
      return { type: "image", destination: push ? `docker://${name}` : name, annotations, text: value };
    }
    case "oci":
    case "docker": {
      if (dest === "-") {
        throw usage(
          FLAG,
          value,
          `berth writes a type=${type} image to a file, not to standard output`,
          `give dest=FILE`,
        );
      }
      if (dest?.includes(":"))
        throw usage(FLAG, value, "dest= may not hold a colon (it ends the path of an image argument)");
      if (!dest) {
        // docker's own image store is berth's store
        if (type === "docker" && name) return { type: "image", destination: name, annotations, text: value };
        throw needs(
          type === "docker" ? "dest=FILE or name=IMAGE (the store)" : "dest=FILE",
          `-o type=${type},dest=out.tar`,
        );
      }
      const tar = type === "docker" || bool(FLAG, value, "tar", a.get("tar"), true);
      const transport = type === "docker" ? "docker-archive" : tar ? "oci-archive" : "oci";
      const destination = `${transport}:${dest}${name ? `:${name}` : ""}`;
      return { type: "image", destination, annotations, text: value };
    }
    default:
      throw usage(FLAG, value, `type=${type} is not an exporter berth has`);
  }
}
