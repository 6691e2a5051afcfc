// A Go app with a third-party module from the module proxy: answers HTTP on $PORT.
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"

	"github.com/google/uuid"
)

var suffix = ""

func main() {
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://berth.example/"))
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "Hello from go-modules: %s (%s)%s\n", id, runtime.Version(), suffix)
	})
	host := os.Getenv("HOST")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := http.ListenAndServe(host+":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
