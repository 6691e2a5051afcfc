/** The config-only instructions: ENV, LABEL, EXPOSE, USER, CMD, ENTRYPOINT, … (src/dockerfile/instructions/config.ts). */
import { describe, expect, it } from "vitest";
import { applyConfigInstruction } from "../../../src/dockerfile/instructions/config.ts";
import { parseDockerfile } from "../../../src/dockerfile/parse.ts";
import type { ContainerConfig } from "../../../src/oci/config.ts";
import { failure } from "../helpers/failure.ts";

const vars = new Map([
  ["V", "1.0"],
  ["P", "8080"],
]);
const SH = ["/bin/sh", "-c"];

/** Apply one instruction (Dockerfile text) to `config`. */
function apply(line: string, config: ContainerConfig = {}, cmdSet = false) {
  const [ins] = parseDockerfile(line).instructions;
  return applyConfigInstruction(ins!, config, vars, "\\", { cmdSet, shell: SH });
}

describe("applyConfigInstruction", () => {
  it("ENV and LABEL: expanded pairs added, the old config left as it was", () => {
    const before: ContainerConfig = { Env: ["PATH=/bin", "V=0"], Labels: { a: "1" } };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variable syntax, not a template
    const env = apply("ENV V=$V X=${P}", before);
    expect(env.config.Env).toEqual(["PATH=/bin", "V=1.0", "X=8080"]);
    expect(env.text).toBe("ENV V=1.0 X=8080");
    expect([...env.used].sort()).toEqual(["P", "V"]);
    expect(before.Env).toEqual(["PATH=/bin", "V=0"]);
    const label = apply('LABEL version=$V "b c"=d', before);
    expect(label.config.Labels).toEqual({ a: "1", version: "1.0", "b c": "d" });
    expect(label.text).toBe("LABEL version=1.0 b c=d");
  });

  it("EXPOSE: sorted, ranges expanded, protocols lower-cased", () => {
    const r = apply("EXPOSE 53/UDP $P 1000-1002/tcp");
    expect(Object.keys(r.config.ExposedPorts ?? {})).toEqual([
      "1000/tcp",
      "1001/tcp",
      "1002/tcp",
      "53/udp",
      "8080/tcp",
    ]);
    expect(r.text).toBe("EXPOSE [1000/tcp 1001/tcp 1002/tcp 53/udp 8080/tcp]");
    for (const bad of ["http", "10-5", "70000-70001", "80/icmp"])
      expect(failure(() => apply(`EXPOSE ${bad}`))).toEqual({
        code: "DOCKERFILE_SYNTAX",
        message: `invalid port "${bad}"`,
      });
  });

  it("CMD, ENTRYPOINT: exec form as is, shell form through the shell; ENTRYPOINT clears an inherited CMD", () => {
    expect(apply('CMD ["a", "b"]').config.Cmd).toEqual(["a", "b"]);
    expect(apply("CMD echo $V").config.Cmd).toEqual([...SH, "echo $V"]);
    const base: ContainerConfig = { Cmd: ["inherited"] };
    expect(apply("ENTRYPOINT run", base).config).toEqual({ Entrypoint: [...SH, "run"], Cmd: null });
    expect(apply("ENTRYPOINT run", base, true).config.Cmd).toEqual(["inherited"]);
  });

  it("USER, STOPSIGNAL, VOLUME, SHELL, ONBUILD", () => {
    expect(apply("USER app:$V").config.User).toBe("app:1.0");
    expect(apply("STOPSIGNAL SIGTERM").config.StopSignal).toBe("SIGTERM");
    expect(apply('VOLUME ["/a", "/b"]').config.Volumes).toEqual({ "/a": {}, "/b": {} });
    expect(apply("VOLUME /data /v$V").config.Volumes).toEqual({ "/data": {}, "/v1.0": {} });
    expect(apply('SHELL ["bash", "-c"]').config.Shell).toEqual(["bash", "-c"]);
    expect(apply("ONBUILD RUN make", { OnBuild: ["COPY . /"] }).config.OnBuild).toEqual([
      "COPY . /",
      "RUN make",
    ]);
    expect(failure(() => apply("SHELL bash -c")).message).toBe(
      'SHELL needs a JSON array such as ["/bin/bash", "-c"]',
    );
    expect(failure(() => apply("USER $NOPE")).message).toBe("USER needs a user");
  });

  it("HEALTHCHECK: exec or shell form, Go durations in nanoseconds, NONE", () => {
    const hc = apply(
      'HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=0 --start-interval=250ms --retries=3 CMD ["curl", "-f"]',
    ).config.Healthcheck;
    expect(hc).toEqual({
      Test: ["CMD", "curl", "-f"],
      Interval: 90e9,
      Timeout: 1.5e9,
      StartPeriod: 0,
      StartInterval: 250e6,
      Retries: 3,
    });
    expect(apply("HEALTHCHECK CMD curl -f [x]").config.Healthcheck).toEqual({
      Test: ["CMD-SHELL", "curl -f [x]"],
    });
    expect(apply("HEALTHCHECK none").config.Healthcheck).toEqual({ Test: ["NONE"] });
    expect(failure(() => apply("HEALTHCHECK --interval=5x CMD true")).message).toBe(
      "--interval=5x is not a duration such as 30s or 1m30s",
    );
    expect(failure(() => apply("HEALTHCHECK --timeout=1s2 CMD true")).message).toBe(
      "--timeout=1s2 is not a duration such as 30s or 1m30s",
    );
    expect(failure(() => apply("HEALTHCHECK RUN true")).message).toBe("HEALTHCHECK needs CMD or NONE");
  });

  it("HEALTHCHECK --retries must be a whole number (it crashed the history text with a RangeError)", () => {
    expect(failure(() => apply("HEALTHCHECK --retries=three CMD true"))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "--retries=three is not a whole number",
    });
  });

  it("refuses an instruction that is not a config instruction", () => {
    expect(failure(() => apply("RUN true"))).toEqual({
      code: "INTERNAL",
      message: "RUN is not a config instruction",
    });
  });
});
