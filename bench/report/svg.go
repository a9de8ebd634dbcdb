package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry.
const (
	chartW, chartH = 760, 340
	padL, padR     = 70, 70
	padT, padB     = 40, 50
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

type tick struct {
	v     float64
	label string
}

// axis maps values to [0,1]; log axes take log10 of positive values.
type axis struct {
	label    string
	log      bool
	min, max float64
	ticks    []tick
}

func (a *axis) frac(v float64) float64 {
	lo, hi := a.min, a.max
	if a.log {
		v, lo, hi = math.Log10(math.Max(v, a.min)), math.Log10(lo), math.Log10(hi)
	}
	if hi <= lo {
		return 0
	}
	return (v - lo) / (hi - lo)
}

type series struct {
	name  string
	pts   [][2]float64
	right bool // plotted against the right axis
	step  bool // draw as steps
}

// linearAxis spans [0, max] with about 5 round ticks.
func linearAxis(label string, maxV float64, format func(float64) string) axis {
	if maxV <= 0 {
		maxV = 1
	}
	raw := maxV / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	a := axis{label: label, min: 0, max: math.Ceil(maxV/step) * step}
	for v := 0.0; v <= a.max+step/2; v += step {
		a.ticks = append(a.ticks, tick{v, format(v)})
	}
	return a
}

// logAxis spans whole decades around [lo, hi].
func logAxis(label string, lo, hi float64, format func(float64) string) axis {
	lo = math.Max(lo, 1e-9)
	hi = math.Max(hi, lo*10)
	a := axis{label: label, log: true, min: math.Pow(10, math.Floor(math.Log10(lo))), max: math.Pow(10, math.Ceil(math.Log10(hi)))}
	for v := a.min; v <= a.max*1.0001; v *= 10 {
		a.ticks = append(a.ticks, tick{v, format(v)})
	}
	return a
}

// lineChart draws series over x against yl (and yr for right series).
func lineChart(title string, x, yl axis, yr *axis, ss []series) string {
	var b strings.Builder
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	px := func(v float64) float64 { return padL + x.frac(v)*pw }
	py := func(a *axis, v float64) float64 { return padT + ph - a.frac(v)*ph }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(title))
	// Grid and ticks.
	for _, t := range x.ticks {
		xx := px(t.v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`, xx, padT, xx, padT+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xx, padT+ph+16, html.EscapeString(t.label))
	}
	for _, t := range yl.ticks {
		yy := py(&yl, t.v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, padL, yy, padL+pw, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, yy+4, html.EscapeString(t.label))
	}
	if yr != nil {
		for _, t := range yr.ticks {
			yy := py(yr, t.v)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#555">%s</text>`+"\n", padL+pw+6, yy+4, html.EscapeString(t.label))
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", padL+pw/2, chartH-8, html.EscapeString(x.label))
	fmt.Fprintf(&b, `<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+ph/2, html.EscapeString(yl.label))
	if yr != nil {
		fmt.Fprintf(&b, `<text transform="translate(%d,%.1f) rotate(90)" text-anchor="middle" fill="#555">%s</text>`+"\n", chartW-14, padT+ph/2, html.EscapeString(yr.label))
	}
	// Series and legend.
	for i, s := range ss {
		color := palette[i%len(palette)]
		a := &yl
		if s.right && yr != nil {
			a = yr
		}
		var path strings.Builder
		for j, p := range s.pts {
			xx, yy := px(p[0]), py(a, p[1])
			switch {
			case j == 0:
				fmt.Fprintf(&path, "M%.1f %.1f", xx, yy)
			case s.step:
				fmt.Fprintf(&path, " H%.1f V%.1f", xx, yy)
			default:
				fmt.Fprintf(&path, " L%.1f %.1f", xx, yy)
			}
		}
		if len(s.pts) > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`+"\n", path.String(), color)
		}
		if len(s.pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(s.pts[0][0]), py(a, s.pts[0][1]), color)
		}
		lx := float64(padL) + 10 + float64(i)*170
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="3"/>`, lx, padT+12, lx+18, padT+12, color)
		name := s.name
		if s.right && yr != nil {
			name += " (right)"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", lx+22, padT+16, html.EscapeString(name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
