package bench

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Failures says why a run must not be read as a success: publishes the
// server refused or did not answer, subscribers that did not connect,
// deliveries lost beyond maxLossPct percent of those expected, recoveries
// that failed. Each reason is one sentence that names the cause where the
// errors reveal it. None means the figures describe a healthy run.
//
// Without this check, a run whose every publish got 401 printed a summary
// that looked like a (quiet) success and exited 0: nothing was expected, so
// nothing was lost.
func (rep *Report) Failures(maxLossPct float64) []string {
	var why []string
	c := &rep.Conns
	if c.Target > 0 && c.OpenAfterConnect < uint64(c.Target) {
		why = append(why, fmt.Sprintf("%d of %d connections did not open%s",
			uint64(c.Target)-c.OpenAfterConnect, c.Target, because(c.Errors)))
	}
	if p := rep.Publish; p != nil {
		calls := p.Calls + p.Refused + p.Uncertain
		if p.Refused > 0 {
			why = append(why, fmt.Sprintf("%d of %d publishes refused%s", p.Refused, calls, because(p.Errors)))
		}
		if p.Uncertain > 0 {
			why = append(why, fmt.Sprintf("%d of %d publish calls got no clear answer (failed, timed out or an error in a broadcast reply)%s",
				p.Uncertain, calls, because(p.Errors)))
		}
		if calls == 0 {
			why = append(why, "no publish call was made")
		}
	}
	if d := rep.Delivery; d != nil && d.Expected > 0 {
		pct := 100 * float64(d.Lost) / float64(d.Expected)
		if d.Lost > 0 && pct > maxLossPct {
			why = append(why, fmt.Sprintf("%d of %d deliveries lost (%.3g%%, over --max-loss %g%%) on %d connection(s)",
				d.Lost, d.Expected, pct, maxLossPct, d.ConnsWithLoss))
		}
	}
	if r := rep.Recovery; r != nil {
		if r.Failed > 0 {
			why = append(why, fmt.Sprintf("%d of %d recovering connections did not recover what was published%s",
				r.Failed, r.Connected, because(r.Errors)))
		}
		if r.Connected < uint64(r.Target) {
			why = append(why, fmt.Sprintf("%d of %d recovering connections got no connect push%s",
				uint64(r.Target)-r.Connected, r.Target, because(r.Errors)))
		}
	}
	return why
}

// because is " (the most frequent error: hint)", or "" with no errors.
func because(errs map[string]uint64) string {
	if len(errs) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(errs))
	slices.SortFunc(keys, func(a, b string) int {
		if errs[a] != errs[b] {
			if errs[a] > errs[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	top := keys[0]
	s := " (" + top
	if hint := hintFor(top); hint != "" {
		s += ": " + hint
	}
	if len(keys) > 1 {
		s += fmt.Sprintf("; %d other kind(s) of error", len(keys)-1)
	}
	return s + ")"
}

// hintFor names the flag most likely wrong for an error as the publishers
// and subscribers record it ("status 401", "http 404", …).
func hintFor(err string) string {
	f := strings.Fields(err)
	if len(f) < 2 || (f[0] != "status" && f[0] != "http") {
		return ""
	}
	code, convErr := strconv.Atoi(strings.TrimSuffix(f[1], ":"))
	if convErr != nil {
		return ""
	}
	switch {
	case code == 401 && f[0] == "status":
		return "Unauthorized, check --api-key"
	case code == 401:
		return "Unauthorized, check --secret"
	case code == 404 && f[0] == "status":
		return "Not Found, check --api"
	case code == 404:
		return "Not Found, check --url (and that uni_sse is enabled)"
	case code == 429 || code == 503:
		return "the server is overloaded or a broker is down"
	}
	return ""
}
