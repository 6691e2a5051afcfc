// The provenance oracle for test/dockerfile/provenance.test.ts: BuildKit v0.26.2's own types read what berth
// writes. It reads one JSON document on stdin, {"statement": <an in-toto statement>, "purls": [{"ref",
// "platform"}]}, decodes the statement and its predicate (SLSA v0.2 or v1, by predicateType) with
// DisallowUnknownFields, and prints {"statement": <the statement as Go encodes it again>, "purls": [<BuildKit's
// purl.RefToPURL of each>], "indented": <the statement as json.MarshalIndent writes it, as BuildKit's local and
// tar exporters do>}; a field BuildKit's types do not have is an error (exit 1). Built and cached by
// scripts/provenance-oracle.sh.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	"github.com/moby/buildkit/util/purl"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	packageurl "github.com/package-url/packageurl-go"
)

type query struct {
	Statement json.RawMessage `json:"statement"`
	Purls     []struct {
		Ref      string `json:"ref"`
		Platform string `json:"platform"`
		OS       string `json:"os"`
		Arch     string `json:"architecture"`
		Variant  string `json:"variant"`
	} `json:"purls"`
}

type statement struct {
	intoto.StatementHeader
	Predicate json.RawMessage `json:"predicate"`
}

func strict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	var q query
	if err := json.NewDecoder(os.Stdin).Decode(&q); err != nil {
		fail(err)
	}
	out := map[string]any{}
	if len(q.Statement) > 0 {
		var st statement
		if err := strict(q.Statement, &st); err != nil {
			fail(fmt.Errorf("statement: %w", err))
		}
		var pred any
		switch st.PredicateType {
		case slsa02.PredicateSLSAProvenance:
			var p provenancetypes.ProvenancePredicateSLSA02
			if err := strict(st.Predicate, &p); err != nil {
				fail(fmt.Errorf("predicate v0.2: %w", err))
			}
			pred = p
		case slsa1.PredicateSLSAProvenance:
			var p provenancetypes.ProvenancePredicateSLSA1
			if err := strict(st.Predicate, &p); err != nil {
				fail(fmt.Errorf("predicate v1: %w", err))
			}
			pred = p
		default:
			fail(fmt.Errorf("predicateType %q is not SLSA provenance", st.PredicateType))
		}
		stmt := intoto.Statement{StatementHeader: st.StatementHeader, Predicate: pred}
		out["statement"] = stmt
		// as BuildKit's local and tar exporters write it (exporter/local/fs.go)
		indented, err := json.MarshalIndent(stmt, "", "  ")
		if err != nil {
			fail(err)
		}
		out["indented"] = string(indented)
	}
	purls := []string{}
	for _, p := range q.Purls {
		var pl *ocispecs.Platform
		if p.OS != "" {
			pl = &ocispecs.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant}
		}
		s, err := purl.RefToPURL(packageurl.TypeDocker, p.Ref, pl)
		if err != nil {
			fail(err)
		}
		purls = append(purls, s)
	}
	out["purls"] = purls
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}
