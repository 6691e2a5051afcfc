// The lint oracle for test/dockerfile/lint.test.ts: BuildKit's own build checks at the version berth follows.
// Reads a JSON array of cases on stdin; for each, runs dockerfile2llb.DockerfileLint (mode "lint", what
// `docker build --check` asks: every stage unless a target is named) or dockerfile2llb.Dockerfile2LLB with a
// warning callback (mode "build", what a build logs: only the stages the target needs) on the Dockerfile, with
// the build args and target given, FROM images' configs answered from the case's "images" map (no network;
// an image not in it has an empty config), and prints a JSON array: each case's warnings in BuildKit's order
// (rule, description, URL, sentence, line ranges), the error the frontend returned (a check directive's
// error=true among them) and, in mode lint, the result JSON and buildx's text of it. A case with "checkOption"
// only parses that string as BUILDKIT_DOCKERFILE_CHECK and # check= values are parsed (linter.ParseLintOptions)
// and answers its error or config. Mode "outline" runs dockerfile2llb.Dockerfile2Outline and mode "targets"
// dockerfile2llb.ListTargets (buildx's --call outline / --call targets): the result JSON as BuildKit marshals
// it (what format=json prints) and the text buildx prints of it (outline.PrintOutline, targets.PrintTargets).
// Built and cached by scripts/lint-oracle.sh.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

type question struct {
	Dockerfile  string                     `json:"dockerfile"`
	Mode        string                     `json:"mode"`
	BuildArgs   map[string]string          `json:"buildArgs"`
	Target      string                     `json:"target"`
	Images      map[string]json.RawMessage `json:"images"`
	CheckOption *string                    `json:"checkOption"`
}

type rng struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

type warning struct {
	Rule        string `json:"rule"`
	Description string `json:"description"`
	URL         string `json:"url"`
	Detail      string `json:"detail"`
	Ranges      []rng  `json:"ranges"`
}

type answer struct {
	Warnings []warning `json:"warnings"`
	Error    string    `json:"error,omitempty"`
	Config   *config   `json:"config,omitempty"`
	// Result is mode lint's LintResults as BuildKit marshals it for result.json (what --call=check,format=json
	// prints), and Text what buildx prints of it (LintResults.PrintTo).
	Result string `json:"result,omitempty"`
	Text   string `json:"text,omitempty"`
}

// config is linter.Config without its callback.
type config struct {
	ExperimentalAll   bool
	ExperimentalRules []string
	ReturnAsError     bool
	SkipAll           bool
	SkipRules         []string
}

type images map[string]json.RawMessage

func (m images) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	if dt, ok := m[ref]; ok {
		return ref, "", dt, nil
	}
	return ref, "", []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`), nil
}

func ranges(loc []parser.Range) []rng {
	out := []rng{}
	for _, r := range loc {
		out = append(out, rng{Start: r.Start.Line, End: r.End.Line})
	}
	return out
}

func ask(q question) answer {
	if q.CheckOption != nil {
		cfg, err := linter.ParseLintOptions(*q.CheckOption)
		if err != nil {
			return answer{Warnings: []warning{}, Error: err.Error()}
		}
		return answer{Warnings: []warning{}, Config: &config{cfg.ExperimentalAll, cfg.ExperimentalRules, cfg.ReturnAsError, cfg.SkipAll, cfg.SkipRules}}
	}
	dt := []byte(q.Dockerfile)
	a := answer{Warnings: []warning{}}
	// every LLB capability, as a current BuildKit has them (RUN --mount asks)
	caps := pb.Caps.CapSet(pb.Caps.All())
	opt := dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: q.BuildArgs, Target: q.Target},
		SourceMap:    &llb.SourceMap{Filename: "Dockerfile", Language: "Dockerfile", Data: dt, Definition: &llb.Definition{}},
		MetaResolver: images(q.Images),
		LLBCaps:      &caps,
	}
	switch q.Mode {
	case "outline":
		o, err := dockerfile2llb.Dockerfile2Outline(context.Background(), dt, opt)
		if err != nil {
			a.Error = err.Error()
			return a
		}
		return printed(a, o, outline.PrintOutline)
	case "targets":
		l, err := dockerfile2llb.ListTargets(context.Background(), dt)
		if err != nil {
			a.Error = err.Error()
			return a
		}
		return printed(a, l, targets.PrintTargets)
	}
	if q.Mode == "build" {
		opt.Warn = func(rule, description, url, detail string, loc []parser.Range) {
			a.Warnings = append(a.Warnings, warning{rule, description, url, detail, ranges(loc)})
		}
		if _, _, _, _, err := dockerfile2llb.Dockerfile2LLB(context.Background(), dt, opt); err != nil {
			a.Error = err.Error()
		}
		return a
	}
	res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, opt)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	for _, w := range res.Warnings {
		loc := []rng{}
		for _, r := range w.Location.Ranges {
			loc = append(loc, rng{Start: int(r.Start.Line), End: int(r.End.Line)})
		}
		a.Warnings = append(a.Warnings, warning{w.RuleName, w.Description, w.URL, w.Detail, loc})
	}
	if res.Error != nil {
		a.Error = res.Error.Message
	}
	return printed(a, res, func(_ []byte, w io.Writer) error { return res.PrintTo(w, nil) })
}

// printed fills a's Result with v's JSON (as the subrequest's ToResult makes result.json) and Text with what
// buildx's printer makes of it.
func printed(a answer, v any, print func([]byte, io.Writer) error) answer {
	dt, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		a.Error = err.Error()
		return a
	}
	a.Result = string(dt)
	var text bytes.Buffer
	if err := print(dt, &text); err != nil {
		a.Error = err.Error()
	}
	a.Text = text.String()
	return a
}

func main() {
	var qs []question
	if err := json.NewDecoder(os.Stdin).Decode(&qs); err != nil {
		fmt.Fprintf(os.Stderr, "lint oracle: reading the cases: %v\n", err)
		os.Exit(1)
	}
	out := make([]answer, 0, len(qs))
	for _, q := range qs {
		out = append(out, ask(q))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "lint oracle: %v\n", err)
		os.Exit(1)
	}
}
