/** `-o`/`--output` values (buildx's CSV and shorthands) and the image destinations berth maps them to. */
import { describe, expect, it } from "vitest";
import { parseOutput } from "../../src/dockerfile/output-spec.ts";

describe("parseOutput", () => {
  it("takes buildx's shorthands: DIR is type=local, - is a tar to standard output", () => {
    expect(parseOutput("out")).toEqual({ type: "local", dest: "out", split: undefined, text: "out" });
    expect(parseOutput("-")).toEqual({ type: "tar", dest: "-", text: "-" });
  });

  it("takes type=local and type=tar with their keys", () => {
    expect(parseOutput("type=local,dest=bin")).toMatchObject({
      type: "local",
      dest: "bin",
      split: undefined,
    });
    expect(parseOutput("type=local,dest=bin,platform-split=false")).toMatchObject({ split: false });
    expect(parseOutput("type=tar,dest=out.tar")).toMatchObject({ type: "tar", dest: "out.tar" });
    expect(parseOutput("type=tar,dest=-,attestation-prefix=p-")).toMatchObject({ prefix: "p-" });
    expect(parseOutput("type=local,dest=o,attestation-prefix=q.")).toMatchObject({ prefix: "q." });
    expect(parseOutput('type=local,"dest=a,b"')).toMatchObject({ dest: "a,b" });
  });

  it("maps the image exporters onto berth's destinations", () => {
    const dest = (v: string) => {
      const s = parseOutput(v);
      return s.type === "image" ? s.destination : s.type;
    };
    expect(dest("type=image,name=app:1")).toBe("app:1");
    expect(dest("type=image,name=127.0.0.1:5000/app:1,push=true")).toBe("docker://127.0.0.1:5000/app:1");
    expect(dest("type=registry,name=127.0.0.1:5000/app:1")).toBe("docker://127.0.0.1:5000/app:1");
    expect(dest("type=oci,dest=out.tar")).toBe("oci-archive:out.tar");
    expect(dest("type=oci,dest=out.tar,name=app:1")).toBe("oci-archive:out.tar:app:1");
    expect(dest("type=oci,dest=layout,tar=false,name=app")).toBe("oci:layout:app");
    expect(dest("type=docker,dest=out.tar,name=app:1")).toBe("docker-archive:out.tar:app:1");
    // docker's image store is berth's store
    expect(dest("type=docker,name=app:1")).toBe("app:1");
  });

  it("an image exporter takes BuildKit's annotation attributes; a filesystem export has none", () => {
    const spec = parseOutput(
      'type=oci,dest=o.tar,annotation.a=1,"annotation-index.b=x,y",annotation-manifest[linux/arm64].c=3',
    );
    expect(
      spec.type === "image" &&
        spec.annotations.map((a) => [a.type, a.platform?.architecture, a.key, a.value]),
    ).toEqual([
      ["manifest", undefined, "a", "1"],
      ["index", undefined, "b", "x,y"],
      ["manifest", "arm64", "c", "3"],
    ]);
    expect(parseOutput("type=image,name=app:1")).toMatchObject({ annotations: [] });
    expect(() => parseOutput("type=local,dest=x,annotation.a=1")).toThrow(
      /unknown key "annotation.a" for type=local/,
    );
    expect(() => parseOutput("type=image,name=a,annotation-bogus.a=1")).toThrow(
      "-o type=image,name=a,annotation-bogus.a=1: unrecognized annotation type bogus",
    );
  });

  it("refuses an unknown type or key, a missing dest or name, in one sentence naming -o and the value", () => {
    for (const [value, why] of [
      ["", /-o "": is empty/],
      ["dest=x", /-o "dest=x": needs type=/],
      ["type=bogus,dest=x", /type=bogus is not an exporter berth has/],
      ["type=local", /type=local needs dest=DIR/],
      ["type=tar", /type=tar needs dest=FILE/],
      ["type=local,dest=-", /a folder export cannot go to standard output/],
      [
        "type=local,dest=x,foo=bar",
        /unknown key "foo" for type=local \(type, dest, platform-split, attestation-prefix\)/,
      ],
      ["type=tar,dest=x,platform-split=true", /unknown key "platform-split" for type=tar/],
      ["type=local,dest=x,platform-split=maybe", /platform-split="maybe" must be true or false/],
      ["type=image", /type=image needs name=IMAGE/],
      ["type=image,name=a,push=yes", /push="yes" must be true or false/],
      ["type=oci", /type=oci needs dest=FILE/],
      ["type=docker", /type=docker needs dest=FILE or name=IMAGE/],
      ["type=oci,dest=-", /writes a type=oci image to a file, not to standard output/],
      ["type=docker,dest=a:b", /dest= may not hold a colon/],
      ["type=local,dest=x,dest=y", /dest= is given twice/],
    ] as const) {
      expect(() => parseOutput(value), value).toThrow(why);
    }
  });
});
