package report

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/unisse/unisse/bench"
)

// HTML writes a self-contained page: the summary, the charts inline, and
// the JSON report in a collapsed block.
func HTML(w io.Writer, rep *bench.Report) error {
	var sum strings.Builder
	if err := Summary(&sum, rep); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	charts := Charts(rep)
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>unisse-bench %s — %s</title>
<style>body{font-family:sans-serif;max-width:800px;margin:2em auto;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}figure{margin:1.5em 0}</style></head>
<body><h1>unisse-bench %s</h1>
<p>%s — started %s</p>
<pre>%s</pre>
`, html.EscapeString(string(rep.Mode)), html.EscapeString(rep.Config.URL), html.EscapeString(string(rep.Mode)),
		html.EscapeString(rep.Config.URL), rep.Started.Format("2006-01-02 15:04:05 MST"), html.EscapeString(sum.String()))
	for _, name := range []string{"latency", "throughput", "connections"} {
		fmt.Fprintf(&b, "<figure>\n%s</figure>\n", charts[name])
	}
	fmt.Fprintf(&b, "<details><summary>JSON report</summary><pre>%s</pre></details>\n</body></html>\n", html.EscapeString(string(js)))
	_, err = io.WriteString(w, b.String())
	return err
}
