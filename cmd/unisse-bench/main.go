// Command unisse-bench is the load generator for uni_sse servers (unisse or
// Centrifugo). All behaviour lives in package bench/cli; `unisse-bench -h`
// lists modes and flags.
package main

import (
	"os"

	"github.com/unisse/unisse/bench/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
