// The glob oracle for test/util/glob.test.ts and test/layer/ignore.test.ts: reads a JSON array of {"dialect",
// "pattern", "name"} on stdin and prints, for each, what Go says: path.Match and filepath.Match for "path",
// moby/patternmatcher (the version BuildKit vendors) for "patternmatcher", and for "ignorefile" whether a
// .dockerignore of that text excludes the name (ignorefile.ReadAll, then MatchesOrParentMatches). Built and
// cached by scripts/glob-oracle.sh.
package main

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"

	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

type query struct {
	Dialect string `json:"dialect"`
	Pattern string `json:"pattern"`
	Name    string `json:"name"`
}

type answer struct {
	Match bool `json:"match"`
	Bad   bool `json:"bad"`
	// filepath.Match's answer, when it differs from path.Match's (never on Linux)
	Filepath *bool `json:"filepath,omitempty"`
}

func main() {
	var queries []query
	if err := json.NewDecoder(os.Stdin).Decode(&queries); err != nil {
		panic(err)
	}
	answers := make([]answer, len(queries))
	for i, q := range queries {
		switch q.Dialect {
		case "path":
			m, err := path.Match(q.Pattern, q.Name)
			answers[i] = answer{Match: m, Bad: err != nil}
			if fm, ferr := filepath.Match(q.Pattern, q.Name); fm != m || (ferr != nil) != (err != nil) {
				answers[i].Filepath = &fm
			}
		case "patternmatcher":
			pm, err := patternmatcher.New([]string{q.Pattern})
			if err != nil {
				answers[i] = answer{Bad: true}
				continue
			}
			m, err := pm.MatchesUsingParentResult(q.Name, false)
			answers[i] = answer{Match: m, Bad: err != nil}
		case "ignorefile":
			patterns, err := ignorefile.ReadAll(strings.NewReader(q.Pattern))
			if err != nil {
				answers[i] = answer{Bad: true}
				continue
			}
			pm, err := patternmatcher.New(patterns)
			if err != nil {
				answers[i] = answer{Bad: true}
				continue
			}
			m, err := pm.MatchesOrParentMatches(q.Name)
			answers[i] = answer{Match: m, Bad: err != nil}
		default:
			panic("unknown dialect " + q.Dialect)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		panic(err)
	}
}
