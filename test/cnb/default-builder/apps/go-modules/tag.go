//go:build berth

package main

// Built only with -tags=berth (GOFLAGS=-tags=berth through berth build -e): shows GOFLAGS reached go build.
func init() { suffix = " [tag berth]" }
