package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// unisseBin is the unisse binary under test (TestMain).
var unisseBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	unisseBin = os.Getenv("UNISSE_BIN")
	if unisseBin == "" {
		dir, err := os.MkdirTemp("", "unisse-cluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		unisseBin = filepath.Join(dir, "unisse")
		build := exec.Command("go", "build", "-o", unisseBin, "github.com/unisse/unisse/cmd/unisse")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building unisse:", err)
			return 1
		}
	}
	return m.Run()
}
