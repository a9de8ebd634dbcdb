package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/bench"
)

func TestParse(t *testing.T) {
	o, err := Parse(strings.Fields("channels --url http://localhost:9000/connection/uni_sse --channels 50 "+
		"--api-method broadcast --group-size 5 --rate max --duration 3s --connect-rate 500 --json --svg out"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.Mode != bench.Channels || c.NumChannels != 50 || !c.UseBcastAPI || c.GroupSize != 5 || c.Rate != 0 ||
		c.Duration != 3*time.Second || c.ConnectRate != 500 || !o.JSON || o.SVGDir != "out" {
		t.Fatalf("%+v", o)
	}
	if c.API != "http://localhost:9000/api" {
		t.Fatalf("api %q not derived from the url", c.API)
	}
	o, err = Parse([]string{"broadcast", "--channels", "50", "--group-size", "5"}, io.Discard)
	if err != nil || o.Config.NumChannels != 1 || o.Config.GroupSize != 1 || o.Config.Rate != 10 {
		t.Fatalf("broadcast keeps one channel: %+v %v", o.Config, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range []string{"", "--conns 5", "flood", "idle --rate fast", "idle --conns 0",
		"channels --api-method rpc", "idle extra", "churn --churn-rate 0"} {
		if _, err := Parse(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	var usage strings.Builder
	if _, err := Parse([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, want := range []string{"idle", "churn", "-conns", "-secret", "-svg"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
