package namespace

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/unisse/unisse/engine/config"
)

// Options are a namespace's channel options with the regexp compiled.
type Options struct {
	Name string // "" for channels without namespace
	config.ChannelOptions
	channelRegex *regexp.Regexp
}

// HasHistory reports whether channels of this namespace keep history.
func (o *Options) HasHistory() bool { return o.HistorySize > 0 && o.HistoryTTL > 0 }

// Resolver maps channels to namespace options.
type Resolver struct {
	boundary      string
	privatePrefix string
	maxLength     int
	without       *Options
	byName        map[string]*Options
}

// New builds a resolver from the channel configuration.
func New(c config.Channel) (*Resolver, error) {
	r := &Resolver{
		boundary:      c.NamespaceBoundary,
		privatePrefix: c.PrivatePrefix,
		maxLength:     c.MaxLength,
		byName:        make(map[string]*Options, len(c.Namespaces)),
	}
	var err error
	// A namespace without history_meta_ttl uses channel.history_meta_ttl.
	withMeta := func(co config.ChannelOptions) config.ChannelOptions {
		if co.HistoryMetaTTL <= 0 {
			co.HistoryMetaTTL = c.HistoryMetaTTL
		}
		return co
	}
	if r.without, err = compile("", withMeta(c.WithoutNamespace)); err != nil {
		return nil, err
	}
	for _, ns := range c.Namespaces {
		o, err := compile(ns.Name, withMeta(ns.ChannelOptions))
		if err != nil {
			return nil, err
		}
		r.byName[ns.Name] = o
	}
	return r, nil
}

func compile(name string, co config.ChannelOptions) (*Options, error) {
	o := &Options{Name: name, ChannelOptions: co}
	if co.ChannelRegex != "" {
		re, err := regexp.Compile(co.ChannelRegex)
		if err != nil {
			return nil, fmt.Errorf("namespace %q: channel_regex: %w", name, err)
		}
		o.channelRegex = re
	}
	return o, nil
}

// Lookup returns the options for ch, or ok=false when ch names a namespace
// that does not exist (Centrifugo's "unknown channel").
func (r *Resolver) Lookup(ch string) (opts *Options, ok bool) {
	name := r.NamespaceOf(ch)
	if name == "" {
		return r.without, true
	}
	opts, ok = r.byName[name]
	return opts, ok
}

// NamespaceOf returns the namespace part of ch ("" when there is none).
func (r *Resolver) NamespaceOf(ch string) string {
	ch = strings.TrimPrefix(ch, r.privatePrefix)
	if r.boundary == "" {
		return ""
	}
	if i := strings.Index(ch, r.boundary); i >= 0 {
		return ch[:i]
	}
	return ""
}

// Valid reports whether ch is acceptable as a channel name: not longer than
// channel.max_length and, when the namespace sets channel_regex, with its name
// part matching it. The name part is Centrifugo's: after the private prefix
// and the first boundary when there is one, else the whole channel.
func (r *Resolver) Valid(ch string, opts *Options) bool {
	if r.maxLength > 0 && len(ch) > r.maxLength {
		return false
	}
	if opts.channelRegex == nil {
		return true
	}
	rest := ch
	if r.boundary != "" {
		if _, after, ok := strings.Cut(strings.TrimPrefix(ch, r.privatePrefix), r.boundary); ok {
			rest = after
		}
	}
	return opts.channelRegex.MatchString(rest)
}

// IsPrivate reports whether ch starts with the private prefix.
func (r *Resolver) IsPrivate(ch string) bool {
	return r.privatePrefix != "" && strings.HasPrefix(ch, r.privatePrefix)
}
