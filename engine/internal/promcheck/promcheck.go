package promcheck

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Family is one metric family of an exposition.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Sample is one line of samples.
type Sample struct {
	Name   string // the family's name or, for histograms and summaries, with _bucket, _sum or _count
	Labels map[string]string
	Value  float64
}

// LabelNames are the sorted names of the labels f's samples carry, le and
// quantile left out.
func (f *Family) LabelNames() []string {
	seen := map[string]bool{}
	for _, s := range f.Samples {
		for k := range s.Labels {
			if k != "le" && !(k == "quantile" && f.Type == "summary") {
				seen[k] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Find returns the value of f's sample name{labels} (labels complete).
func (f *Family) Find(name string, labels map[string]string) (float64, bool) {
	for _, s := range f.Samples {
		if s.Name == name && equalLabels(s.Labels, labels) {
			return s.Value, true
		}
	}
	return 0, false
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Parse checks text and returns its families by name.
func Parse(text string) (map[string]*Family, error) {
	if text == "" || !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("exposition empty or not ending in a newline")
	}
	fams := map[string]*Family{}
	var cur *Family
	closed := map[string]bool{} // families whose lines ended
	series := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n++
		if line == "" {
			return nil, fmt.Errorf("line %d: empty line", n)
		}
		if strings.HasPrefix(line, "#") {
			fields := strings.SplitN(line, " ", 4)
			if len(fields) < 3 || fields[0] != "#" || (fields[1] != "HELP" && fields[1] != "TYPE") {
				continue // a plain comment
			}
			name := fields[2]
			if !metricName.MatchString(name) {
				return nil, fmt.Errorf("line %d: bad family name %q", n, name)
			}
			f := fams[name]
			if f == nil {
				if closed[name] {
					return nil, fmt.Errorf("line %d: family %s reopened", n, name)
				}
				f = &Family{Name: name}
				fams[name] = f
			}
			if cur != nil && cur != f {
				closed[cur.Name] = true
			}
			cur = f
			if len(f.Samples) > 0 {
				return nil, fmt.Errorf("line %d: # %s of %s after its samples", n, fields[1], name)
			}
			text := ""
			if len(fields) == 4 {
				text = fields[3]
			}
			switch fields[1] {
			case "HELP":
				if f.Help != "" {
					return nil, fmt.Errorf("line %d: second # HELP for %s", n, name)
				}
				if strings.TrimSpace(text) == "" {
					return nil, fmt.Errorf("line %d: # HELP of %s has no text", n, name)
				}
				f.Help = text
			case "TYPE":
				if f.Type != "" {
					return nil, fmt.Errorf("line %d: second # TYPE for %s", n, name)
				}
				switch text {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return nil, fmt.Errorf("line %d: bad type %q for %s", n, text, name)
				}
				f.Type = text
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if cur == nil || !belongs(cur, s.Name) {
			return nil, fmt.Errorf("line %d: sample %s outside its family's # HELP and # TYPE", n, s.Name)
		}
		if cur.Help == "" || cur.Type == "" {
			return nil, fmt.Errorf("line %d: sample of %s before its # HELP and # TYPE", n, cur.Name)
		}
		key := seriesKey(s)
		if series[key] {
			return nil, fmt.Errorf("line %d: duplicate series %s", n, key)
		}
		series[key] = true
		if cur.Type == "counter" && (s.Value < 0 || math.IsNaN(s.Value)) {
			return nil, fmt.Errorf("line %d: counter %s = %v", n, s.Name, s.Value)
		}
		cur.Samples = append(cur.Samples, s)
	}
	for _, f := range fams {
		if f.Help == "" || f.Type == "" {
			return nil, fmt.Errorf("family %s lacks # HELP or # TYPE", f.Name)
		}
		switch f.Type {
		case "histogram":
			if err := checkHistogram(f); err != nil {
				return nil, err
			}
		case "summary":
			for _, s := range f.Samples {
				if s.Name != f.Name {
					continue
				}
				q, err := strconv.ParseFloat(s.Labels["quantile"], 64)
				if err != nil || q < 0 || q > 1 {
					return nil, fmt.Errorf("summary %s: bad quantile %q", f.Name, s.Labels["quantile"])
				}
			}
		}
	}
	return fams, nil
}

// belongs reports whether sample name is of family f.
func belongs(f *Family, name string) bool {
	if name == f.Name {
		return f.Type != "histogram"
	}
	rest, ok := strings.CutPrefix(name, f.Name)
	switch {
	case !ok:
		return false
	case f.Type == "histogram":
		return rest == "_bucket" || rest == "_sum" || rest == "_count"
	case f.Type == "summary":
		return rest == "_sum" || rest == "_count"
	}
	return false
}

func seriesKey(s Sample) string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%q", k, s.Labels[k])
	}
	return b.String()
}

// parseSample parses `name{l="v",…} value` (no timestamps: unisse writes
// none, nor does Centrifugo).
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Name = line[:i]
	if !metricName.MatchString(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		rest = strings.TrimLeft(rest[1:], " \t")
		for !strings.HasPrefix(rest, "}") {
			eq := strings.IndexByte(rest, '=')
			if eq < 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			name := rest[:eq]
			if !labelName.MatchString(name) || strings.HasPrefix(name, "__") {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s twice in %q", name, line)
			}
			val, n, err := labelValue(rest[eq+1:])
			if err != nil {
				return s, fmt.Errorf("label %s in %q: %w", name, line, err)
			}
			s.Labels[name] = val
			rest = strings.TrimLeft(rest[eq+1+n:], " \t")
			if strings.HasPrefix(rest, ",") {
				// Blanks may follow (expfmt skips them; VictoriaMetrics'
				// go_info_ext has them).
				rest = strings.TrimLeft(rest[1:], " \t")
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("bad labels in %q", line)
			}
		}
		rest = rest[1:]
	}
	v, ok := strings.CutPrefix(rest, " ")
	if !ok || v == "" || strings.Contains(v, " ") {
		return s, fmt.Errorf("bad value in %q", line)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.Value = f
	return s, nil
}

// labelValue reads a quoted label value (escapes \\, \" and \n only) and
// returns it and the bytes it took.
func labelValue(s string) (string, int, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", 0, fmt.Errorf("value not quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("dangling escape")
			}
			i++
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			default:
				return "", 0, fmt.Errorf("bad escape \\%c", s[i])
			}
		case '\n':
			return "", 0, fmt.Errorf("newline in value")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated value")
}

// checkHistogram: for each label set, buckets with increasing le, counts
// never decreasing, the last +Inf, and _count equal to it when present.
func checkHistogram(f *Family) error {
	type series struct {
		les    []float64
		counts []float64
		count  *float64
	}
	by := map[string]*series{}
	get := func(s Sample) *series {
		l := map[string]string{}
		for k, v := range s.Labels {
			if k != "le" {
				l[k] = v
			}
		}
		key := seriesKey(Sample{Labels: l})
		if by[key] == nil {
			by[key] = &series{}
		}
		return by[key]
	}
	for _, s := range f.Samples {
		sr := get(s)
		switch s.Name {
		case f.Name + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return fmt.Errorf("histogram %s: bucket without le", f.Name)
			}
			v, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return fmt.Errorf("histogram %s: bad le %q", f.Name, le)
			}
			if n := len(sr.les); n > 0 && (v <= sr.les[n-1] || s.Value < sr.counts[n-1]) {
				return fmt.Errorf("histogram %s: buckets not increasing or not cumulative at le=%s", f.Name, le)
			}
			sr.les = append(sr.les, v)
			sr.counts = append(sr.counts, s.Value)
		case f.Name + "_count":
			v := s.Value
			sr.count = &v
		}
	}
	for key, sr := range by {
		n := len(sr.les)
		if n == 0 || !math.IsInf(sr.les[n-1], 1) {
			return fmt.Errorf("histogram %s%s: no +Inf bucket", f.Name, key)
		}
		if sr.count != nil && *sr.count != sr.counts[n-1] {
			return fmt.Errorf("histogram %s%s: _count %v != +Inf bucket %v", f.Name, key, *sr.count, sr.counts[n-1])
		}
	}
	return nil
}
