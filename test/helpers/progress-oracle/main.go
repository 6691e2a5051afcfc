// The progress oracle for test/cli/rawjson.test.ts: reads berth's `--progress rawjson` stream on stdin, one JSON
// object a line, decodes each into BuildKit's client.SolveStatus with unknown fields refused, checks that Go's
// own encoder gives the line back byte for byte (field names, order, omitempty, times, base64), and replays the
// updates through BuildKit's plain display (progressui.PlainMode), which prints on stdout. A line that does not
// decode or round-trip is named on stderr and the exit is 1. Built and cached by scripts/progress-oracle.sh.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

func main() {
	d, err := progressui.NewDisplay(os.Stdout, progressui.PlainMode)
	if err != nil {
		fail("%v", err)
	}
	ch := make(chan *client.SolveStatus)
	done := make(chan error, 1)
	go func() {
		_, err := d.UpdateFrom(context.Background(), ch)
		done <- err
	}()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for in.Scan() {
		n++
		line := in.Bytes()
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var ss client.SolveStatus
		if err := dec.Decode(&ss); err != nil {
			fail("line %d does not decode as a client.SolveStatus: %v: %s", n, err, line)
		}
		if dec.More() {
			fail("line %d has more than one JSON value: %s", n, line)
		}
		var again bytes.Buffer
		if err := json.NewEncoder(&again).Encode(&ss); err != nil {
			fail("line %d does not encode again: %v", n, err)
		}
		if !bytes.Equal(bytes.TrimSuffix(again.Bytes(), []byte("\n")), line) {
			fail("line %d is not Go's encoding of what it decodes to:\n berth: %s\n    Go: %s", n, line, again.Bytes())
		}
		ch <- &ss
	}
	if err := in.Err(); err != nil {
		fail("reading the stream: %v", err)
	}
	close(ch)
	if err := <-done; err != nil {
		fail("the display: %v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "progress-oracle: "+format+"\n", a...)
	os.Exit(1)
}
