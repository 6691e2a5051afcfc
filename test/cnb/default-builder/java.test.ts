/**
 * The default builder's Java support on a small Maven app of its own (test/cnb/default-builder/apps/java-maven): Maven from
 * Maven Central (checked against its .sha512), `mvn package` with the build image's JDK and the local repository
 * as a cache layer, a JRE made by jlink from the modules the jar uses, the heap following the container's limit.
 * The image answers HTTP on $PORT and holds the jar, not the sources. Then: a one-file rebuild with the network
 * cut works from the caches, and a Gradle project fails in one sentence saying why.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { DefaultBuilderSuite, exportedTree, imageConfig, shell } from "./helpers.ts";

const s = new DefaultBuilderSuite("berth-defjava-", 19900);
const { build, answer, copy } = s;

describe("the default builder's Java buildpacks", () => {
  let app: string;
  it("Maven: built from source, run on a jlink JRE with the heap from the container's limit", async () => {
    app = await copy("java-maven");
    const r = await build(app, "j/maven");
    expect(r.stderr).toMatch(/berth\/maven +0\.1\.0/);
    expect(r.stderr).toMatch(
      /Installing Maven from https:\/\/repo\.maven\.apache\.org\/maven2\/org\/apache\/maven\/apache-maven\/3\.9\.\d+\/apache-maven-3\.9\.\d+-bin\.tar\.gz \(the default \(3\.9\)\)/,
    );
    expect(r.stderr).toContain("Built target/java-maven-1.0.0.jar");
    expect(r.stderr).toMatch(/Making a JRE 17\.\S+ with jlink: java\.base,jdk\.httpserver,/);
    expect(await answer("j/maven")).toBe("Hello from java-maven (Java 17, heap 75% of the limit)\n");
    // The image is on the tiny run image (no find): its files are listed from berth export.
    const tree = await exportedTree(s.home, "j/maven", s.dir, ["workspace"]);
    const files = (await shell(`cd ${tree} && find workspace -type f`)).trim().split("\n");
    expect(files).toEqual(["workspace/target/java-maven-1.0.0.jar"]);
  }, 900_000);

  it("Maven: a one-file rebuild with --network none works from the Maven, repository and JRE layers", async () => {
    await shell(
      `sed -i 's/Hello from/Hi again from/' ${join(app, "src/main/java/berth/example/Hello.java")}`,
    );
    const r = await build(app, "j/maven", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing Maven from https://repo.maven.apache.org/");
    expect(r.stderr).toContain("Reusing the local Maven repository (~/.m2)");
    expect(r.stderr).toMatch(/Reusing JRE 17/);
    expect(r.stderr).toContain("Building: mvn -B -DskipTests package");
    expect(await answer("j/maven")).toMatch(/^Hi again from java-maven/);
  }, 600_000);

  it("Maven: a no-op rebuild reuses the jar and the JRE: neither mvn nor jdeps runs, the app layer is the same", async () => {
    const appLayer = async () =>
      JSON.parse(
        (await imageConfig(s.home, "j/maven")).config.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}",
      ).app;
    const before = await appLayer();
    const r = await build(app, "j/maven", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing the jar java-maven-1.0.0.jar: sources and settings unchanged");
    expect(r.stderr).toContain("Reusing the modules of target/java-maven-1.0.0.jar: jar unchanged");
    expect(r.stderr).not.toContain("Building: mvn");
    expect(r.stderr).toMatch(/Reusing JRE 17/);
    expect(await appLayer()).toEqual(before);
    expect(await answer("j/maven")).toMatch(/^Hi again from java-maven/);
  }, 600_000);

  it("Gradle: fails in one sentence naming the file and the ways out", async () => {
    const g = join(s.dir, "gradle-app");
    await shell(`mkdir -p ${g}`);
    await writeFile(join(g, "build.gradle.kts"), "plugins { java }\n");
    const r = await berth(["build", g, "-t", "j/gradle"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "berth/maven: build.gradle.kts: Gradle projects are not built by this builder (Gradle distributions come from services.gradle.org, which its network does not reach, and Debian's gradle 4.4.1 is too old for today's builds)",
    );
    expect(r.stderr).toContain(
      "hint: run 'gradle build' first and build the app with the jar in build/libs/ (with a Procfile if the jar has no Main-Class), or add a pom.xml to build with Maven",
    );
  }, 300_000);
});
