// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
/**
 * Dockerfiles for `--call outline` and `--call targets` (test/dockerfile/outline.test.ts, targets.test.ts), each
 * asked of BuildKit's own functions (test/helpers/lint-oracle) and of berth.
 */
export interface OutlineCase {
  name: string;
  dockerfile: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /** FROM images' configs by reference as BuildKit asks for them (docker.io/library/x:latest). */
  images?: Record<string, { config: { Env: string[]; OnBuild?: string[] } }>;
}

const image = (...env: string[]) => ({
  architecture: "amd64",
  os: "linux",
  config: { Env: env },
  rootfs: { type: "layers", diff_ids: [] },
});

export const OUTLINE_CASES: OutlineCase[] = [
  { name: "one stage, nothing declared", dockerfile: "FROM alpine\nRUN true\n" },
  {
    name: "global ARGs with and without defaults, used in FROM",
    dockerfile: "ARG REPO=library\nARG TAG\nARG UNUSED=1\nFROM ${REPO}/alpine:${TAG:-3}\nRUN true\n",
  },
  {
    name: "descriptions above ARGs",
    dockerfile:
      "# VERSION the version to build\nARG VERSION=1.0\nFROM alpine\n# NAME your name\n# more words\nARG NAME=world\n# ignored comment\nARG OTHER\n",
  },
  {
    name: "description broken by a blank line",
    dockerfile:
      "FROM alpine\n# GREETING the greeting\n\nARG GREETING=hi\n# FAREWELL said at the end\nARG FAREWELL=bye\n",
  },
  {
    name: "multi-line comment, description on its second line",
    dockerfile: "FROM alpine\n# Some text first\n# WHO who to greet\nARG WHO=me\n",
  },
  {
    name: "described stage",
    dockerfile:
      "# base the base stage\nFROM alpine AS base\n# app builds the app\nFROM base AS app\nARG X=1\n",
  },
  {
    name: "description that does not name the stage",
    dockerfile: "# this is the build stage\nFROM alpine AS build\nRUN true\n",
  },
  {
    name: "secrets and ssh",
    dockerfile:
      "FROM alpine\nRUN --mount=type=secret,id=token cat /run/secrets/token\nRUN --mount=type=secret,id=key,required=true --mount=type=ssh true\nRUN --mount=type=ssh,id=github,required true\nRUN --mount=type=secret,target=/etc/pw true\nRUN --mount=type=secret,id=token true\n",
  },
  {
    name: "secret as env",
    dockerfile: "FROM alpine\nRUN --mount=type=secret,id=aws,env=AWS_KEY true\n",
  },
  {
    name: "target names an earlier stage",
    target: "build",
    dockerfile:
      "ARG GO=1.22\nFROM golang:${GO} AS build\nARG CGO=0\nRUN --mount=type=secret,id=netrc true\nFROM alpine\nARG LAST=x\n",
  },
  {
    name: "stage-based chain",
    dockerfile: "FROM alpine AS a\nARG A=1\nFROM a AS b\nARG B=2\nFROM b\nARG C=3\n",
  },
  {
    name: "COPY --from dependency",
    dockerfile:
      "FROM alpine AS deps\nARG DEP=1\nRUN --mount=type=ssh,id=dep true\nFROM alpine AS other\nARG OTHER=1\nFROM alpine\nCOPY --from=deps / /\nARG MAIN=1\n",
  },
  {
    name: "RUN --mount from a stage",
    dockerfile:
      "FROM alpine AS src\nARG SRC=s\nFROM alpine\nRUN --mount=type=bind,from=src,target=/src true\n",
  },
  {
    name: "build args change the values",
    buildArgs: { VERSION: "2.0", NAME: "berth", EXTRA: "x" },
    dockerfile: "ARG VERSION=1.0\nFROM alpine:${VERSION}\nARG NAME=world\nARG OTHER=o\n",
  },
  {
    name: "stage ARG inherits the global",
    dockerfile: "# G global one\nARG G=global\nFROM alpine\n# G stage one\nARG G\nRUN echo $G\n",
  },
  {
    name: "stage ARG inherits the global, given on the command line",
    buildArgs: { G: "given" },
    dockerfile: "ARG G=global\nFROM alpine\nARG G\n",
  },
  {
    name: "global default reads another global",
    dockerfile: "ARG REG=docker.io\nARG IMG=${REG}/alpine\nARG UNRELATED=u\nFROM ${IMG}\n",
  },
  {
    name: "global redeclared",
    dockerfile: "ARG A=1\nARG B=${A}\nARG A=${A}2\nFROM alpine:${A}\n",
  },
  {
    name: "stage default reads ENV and ARG",
    dockerfile: "FROM alpine\nENV BASE=/opt\nARG DIR=${BASE}/app\nARG SUB=${DIR}/sub\n",
  },
  {
    name: "unnamed stages",
    dockerfile: "FROM alpine\nARG ONE=1\nFROM busybox\nARG TWO=2\nFROM scratch\nCOPY --from=0 / /\n",
  },
  {
    name: "duplicate stage names",
    dockerfile:
      "# build first\nFROM alpine AS build\nARG FIRST=1\n# build second\nFROM busybox AS build\nARG SECOND=2\nFROM build\n",
  },
  {
    name: "platforms",
    dockerfile:
      "ARG PLAT=linux/arm64\nFROM --platform=$BUILDPLATFORM alpine AS tools\nFROM --platform=${PLAT} busybox AS cross\nFROM --platform=linux/amd64 alpine\n",
  },
  {
    name: "platform from a global ARG is used",
    target: "cross",
    dockerfile: "ARG PLAT=linux/arm64\nFROM --platform=${PLAT} busybox AS cross\nARG IN=1\n",
  },
  {
    name: "ARG without default anywhere",
    dockerfile: "FROM alpine\nARG NOVALUE\n# EMPTY explicitly empty\nARG EMPTY=\n",
  },
  {
    name: "target with a dependency on a stage with secrets, and one that is not needed",
    target: "final",
    dockerfile:
      "FROM alpine AS a\nRUN --mount=type=secret,id=a true\nFROM alpine AS b\nRUN --mount=type=secret,id=b true\nFROM alpine AS final\nCOPY --from=a /x /x\n",
  },
  {
    name: "upper-case stage name",
    dockerfile: "# Build the builder\nFROM alpine AS Build\nARG X=1\n",
  },
  {
    name: "HTML characters and unicode in values and descriptions",
    dockerfile: "FROM alpine\n# URL <where> & more — é\nARG URL=http://a?b=1&c=<2>\n",
  },
  {
    name: "a stage ARG given on the command line with no default",
    buildArgs: { FLAG: "on" },
    dockerfile: "FROM alpine\nARG FLAG\nARG OTHER\n",
  },
  {
    name: "ARG over several lines",
    dockerfile: "FROM alpine\n# A first\nARG A=\\\n1\nARG C=3\n",
  },
  {
    name: "base stage declared ARG and child redeclares it",
    dockerfile: "ARG V=g\nFROM alpine AS base\nARG V=b\nFROM base\nARG V\n",
  },
  {
    name: "platform variables in a stage's defaults, declared and not",
    dockerfile: "FROM alpine\nARG BEFORE=${TARGETOS}\nARG TARGETOS\nARG AFTER=${TARGETOS}-${BUILDARCH}\n",
  },
  {
    name: "a global ARG naming a platform variable",
    dockerfile: "ARG TARGETARCH\nARG IMG=alpine-${TARGETARCH}\nFROM ${IMG}\nARG TARGETARCH\n",
  },
  {
    name: "secret and ssh ids from ARGs",
    buildArgs: { SSH_ID: "gitlab" },
    dockerfile:
      "FROM alpine\nARG SECRET=npmrc\nARG SSH_ID=github\nRUN --mount=type=secret,id=${SECRET},required=true --mount=type=ssh,id=$SSH_ID true\n",
  },
  {
    name: "a syntax directive above a described stage",
    dockerfile: "# syntax=docker/dockerfile:1\n# app the app\nFROM alpine AS app\n# X an x\nARG X=1\n",
  },
  {
    name: "ARG defaults and mounts read the base image's ENV",
    images: { "docker.io/library/golang:latest": image("GOPATH=/go", "PATH=/go/bin:/usr/bin") },
    dockerfile:
      "FROM golang AS build\nARG BIN=${GOPATH}/bin\nARG P=$PATH\nRUN --mount=type=secret,id=${GOPATH} true\nFROM build\nARG AGAIN=${GOPATH}-again\n",
  },
  {
    name: "ONBUILD triggers of a base stage and of an image",
    images: {
      "docker.io/library/triggered:latest": {
        ...image(),
        config: { Env: [], OnBuild: ["ARG FROM_IMAGE=i", "RUN --mount=type=ssh,id=img true"] },
      },
    },
    dockerfile:
      "FROM triggered AS base\nONBUILD ARG TRIG=1\nONBUILD RUN --mount=type=secret,id=onb true\nARG OWN=o\nFROM base\nARG Y=2\n",
  },
];
