/** `--annotation` and `-o`'s annotation attributes as buildx v0.30.1 and BuildKit v0.26.2 read and group them. */
import { expect, it } from "vitest";
import {
  annotationAttribute,
  annotationsFor,
  checkAnnotations,
  parseAnnotationFlag,
} from "../../src/dockerfile/annotation-spec.ts";
import { BerthError } from "../../src/errors.ts";

const short = (list: ReturnType<typeof parseAnnotationFlag>) =>
  list.map(
    (a) =>
      `${a.type}${a.platform ? `[${a.platform.os}/${a.platform.architecture}]` : ""}:${a.key}=${a.value}`,
  );

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return (err as BerthError).message;
  }
  throw new Error("accepted");
};

it("--annotation: KEY=VALUE is the manifest's; TYPE[PLATFORM],…: one for each type, an index type's platform dropped (buildx's)", () => {
  expect(short(parseAnnotationFlag("org.opencontainers.image.title=a=b"))).toEqual([
    "manifest:org.opencontainers.image.title=a=b",
  ]);
  expect(
    short(parseAnnotationFlag("manifest[linux/arm64/v8],index[linux/arm64],index-descriptor:k=v")),
  ).toEqual(["manifest[linux/arm64]:k=v", "index:k=v", "index-descriptor:k=v"]);
  expect(short(parseAnnotationFlag("manifest-descriptor:k="))).toEqual(["manifest-descriptor:k="]);
});

it("a bad --annotation is buildx's sentence naming the flag", () => {
  expect(refusal(() => parseAnnotationFlag("novalue"))).toBe('--annotation "novalue": expected key=value');
  expect(refusal(() => parseAnnotationFlag("config:k=v"))).toBe(
    '--annotation "config:k=v": unknown annotation type "config"',
  );
  expect(refusal(() => parseAnnotationFlag("Manifest:k=v"))).toBe(
    '--annotation "Manifest:k=v": invalid annotation type "Manifest", expected type and optional platform in square brackets',
  );
  expect(refusal(() => parseAnnotationFlag("manifest[linux]:k=v"))).toBe(
    '--annotation "manifest[linux]:k=v": invalid platform "linux"',
  );
});

it("exporter attributes as BuildKit's ParseAnnotationKey: annotation.K is the manifest's; others are no annotation", () => {
  const at = (k: string) => annotationAttribute(k, "v", "-o x");
  expect(at("annotation.k")).toMatchObject({ type: "manifest", platform: undefined, key: "k" });
  expect(at("annotation-index.k")).toMatchObject({ type: "index", key: "k" });
  expect(at("annotation-manifest-descriptor[linux/amd64].a.b")).toMatchObject({
    type: "manifest-descriptor",
    platform: { os: "linux", architecture: "amd64" },
    key: "a.b",
  });
  expect(at("name")).toBeUndefined();
  expect(refusal(() => at("annotation-config.k"))).toBe("-o x: unrecognized annotation type config");
});

it("grouped as the exporter's Platform(p): index ones from all, the manifest's unscoped then the platform's; alone, none scoped", () => {
  const list = [
    "k=all",
    "manifest[linux/arm64]:k=arm",
    "manifest[linux/amd64]:only=amd",
    "manifest-descriptor[linux/arm64]:d=arm",
    "index:i=1",
    "index-descriptor:id=1",
  ].flatMap(parseAnnotationFlag);
  expect(annotationsFor(list, { os: "linux", architecture: "arm64", variant: "v8" })).toEqual({
    manifest: { k: "arm" },
    manifestDescriptor: { d: "arm" },
    index: { i: "1" },
    indexDescriptor: { id: "1" },
  });
  expect(annotationsFor(list)).toEqual({
    manifest: { k: "all" },
    manifestDescriptor: {},
    index: { i: "1" },
    indexDescriptor: { id: "1" },
  });
  expect(annotationsFor(list, { os: "linux", architecture: "amd64" }).manifest).toEqual({
    k: "all",
    only: "amd",
  });
});

it("checks BuildKit's writer makes: a platform the build does not make (several only); index ones where no index is written", () => {
  const amd = { os: "linux", architecture: "amd64" };
  const arm = { os: "linux", architecture: "arm64" };
  const s390 = parseAnnotationFlag("manifest[linux/s390x]:k=v");
  expect(refusal(() => checkAnnotations(s390, [amd, arm], true))).toBe(
    '--annotation "manifest[linux/s390x]:k=v": no platform linux/s390x in this build (linux/amd64, linux/arm64)',
  );
  // one platform: BuildKit's FindRef finds the one image whatever the platform
  expect(() => checkAnnotations(s390, [amd], false)).not.toThrow();
  const index = parseAnnotationFlag("index-descriptor:k=v");
  expect(refusal(() => checkAnnotations(index, [amd], false))).toBe(
    '--annotation "index-descriptor:k=v": index annotations are not supported for a single-platform export (no index is written), as BuildKit\'s',
  );
  expect(() => checkAnnotations(index, [amd], true)).not.toThrow();
});
