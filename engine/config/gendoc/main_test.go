package main

import (
	"bytes"
	"os"
	"testing"
)

// TestConfigDocUpToDate fails when docs/config.md is not what gendoc writes
// from the current options: a key added, removed, renamed, re-defaulted or
// re-described without regenerating (go run ./engine/config/gendoc). It
// also fails when a key's field has no doc comment (generate's error).
func TestConfigDocUpToDate(t *testing.T) {
	want, err := generate("..")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatal("docs/config.md is stale: run `go run ./engine/config/gendoc` from the repository root (or make docs)")
	}
}
