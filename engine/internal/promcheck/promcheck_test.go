package promcheck

import (
	"strings"
	"testing"
)

const good = `# HELP a_total Things.
# TYPE a_total counter
a_total{code="1"} 2
a_total{code="2", x="y\"z"} 3
# HELP h Delays.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1"} 2
h_bucket{le="+Inf"} 2
h_sum 0.5
h_count 2
# HELP s Durations.
# TYPE s summary
s{quantile="0.5"} NaN
s_sum 0
s_count 0
`

func TestParseAcceptsValid(t *testing.T) {
	fams, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := fams["a_total"].Find("a_total", map[string]string{"code": "2", "x": `y"z`}); !ok || v != 3 {
		t.Fatalf("a_total{code=2} = %v %v", v, ok)
	}
	if got := fams["a_total"].LabelNames(); strings.Join(got, ",") != "code,x" {
		t.Fatalf("label names %v", got)
	}
}

// TestParseRejects: each mutation of the valid text breaks one rule.
func TestParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no help text":        strings.Replace(good, "# HELP a_total Things.", "# HELP a_total", 1),
		"no type":             strings.Replace(good, "# TYPE a_total counter\n", "", 1),
		"type after samples":  strings.Replace(good, "# HELP h Delays.\n# TYPE h histogram\n", "# HELP h Delays.\n", 1) + "# TYPE h histogram\n",
		"two helps":           strings.Replace(good, "# HELP h Delays.", "# HELP h Delays.\n# HELP h Again.", 1),
		"bad type":            strings.Replace(good, "summary", "sumary", 1),
		"sample outside":      strings.Replace(good, "h_sum 0.5", "x_sum 0.5", 1),
		"duplicate series":    strings.Replace(good, `a_total{code="2", x="y\"z"} 3`, `a_total{code="1"} 3`, 1),
		"not cumulative":      strings.Replace(good, `h_bucket{le="1"} 2`, `h_bucket{le="1"} 0`, 1),
		"no +Inf":             strings.Replace(good, "h_bucket{le=\"+Inf\"} 2\n", "", 1),
		"count != +Inf":       strings.Replace(good, "h_count 2", "h_count 3", 1),
		"negative counter":    strings.Replace(good, `a_total{code="1"} 2`, `a_total{code="1"} -2`, 1),
		"bad metric name":     strings.Replace(good, `a_total{code="1"} 2`, `a-total{code="1"} 2`, 1),
		"bad label name":      strings.Replace(good, `{code="1"}`, `{1code="1"}`, 1),
		"unquoted value":      strings.Replace(good, `{code="1"}`, `{code=1}`, 1),
		"bad escape":          strings.Replace(good, `y\"z`, `y\tz`, 1),
		"bad value":           strings.Replace(good, "h_sum 0.5", "h_sum zero", 1),
		"family reopened":     good + "# HELP a_total Things.\n",
		"quantile out of 0–1": strings.Replace(good, `quantile="0.5"`, `quantile="2"`, 1),
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"empty line":          strings.Replace(good, "h_sum 0.5\n", "h_sum 0.5\n\n", 1),
	} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
