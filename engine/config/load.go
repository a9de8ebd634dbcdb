package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	kjson "github.com/knadh/koanf/parsers/json"
)

// Sentinel errors returned by Load. main prints Usage() (for ErrHelp) or the
// version (for ErrVersion) and exits 0.
var (
	ErrHelp    = errors.New("config: help requested")
	ErrVersion = errors.New("config: version requested")
)

const (
	// EnvPrefix is unisse's environment prefix; it wins over CentrifugoEnvPrefix.
	EnvPrefix = "UNISSE_"
	// CentrifugoEnvPrefix is also read, so an existing Centrifugo environment keeps working.
	CentrifugoEnvPrefix = "CENTRIFUGO_"
	// DefaultConfigFile is read when -c is not given and the file exists (as Centrifugo).
	DefaultConfigFile = "config.json"
)

// Report describes what Load read besides the Options themselves. Callers
// typically log it; nothing in it is an error.
type Report struct {
	// File is the config file used, "" when none.
	File string
	// Ignored lists, sorted and each once, the dotted keys present in the file (or
	// inside env JSON values) that unisse does not know, e.g. "websocket.compression"
	// or "channel.namespaces[2].allow_publish_for_client", and the names of
	// UNISSE_*/CENTRIFUGO_* environment variables that map to no key.
	Ignored []string
	// Unsupported is the part of Ignored that are valid Centrifugo v6 keys (or env
	// variables for them) that unisse accepts but does not implement. It also
	// lists keys that Options loads but whose configured value unisse does not
	// act on (see unimplementedValues), e.g.
	// "channel.namespaces[1].force_recovery_mode" set to "cache".
	Unsupported []string
	// Unknown is the rest of Ignored: keys no Centrifugo v6 we know has (typos?).
	Unknown []string
	// DidYouMean maps each Unknown key (or variable) that is a near miss of
	// a known one to that key: within two edits, or a '_'-word short or
	// long (client.token.hmac_secret → client.token.hmac_secret_key).
	// Load fails with a *NearMissError for those that mean a secret.
	DidYouMean map[string]string
}

// shorthands are Centrifugo's one-letter flags.
var shorthands = map[string]string{
	"http_server.port":    "p",
	"http_server.address": "a",
}

// newFlagSet returns a fresh flag set with -c/--config, -h/--help, --version and
// one flag per leaf key of Options (except slices of structs), defaulting to Default().
func newFlagSet() *pflag.FlagSet {
	fset := pflag.NewFlagSet("unisse", pflag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	fset.SortFlags = false
	fset.StringP("config", "c", DefaultConfigFile, "path to a Centrifugo v6 JSON config file; without -c, ./config.json is read if it exists")
	fset.BoolP("help", "h", false, "print this help and exit")
	fset.Bool("version", false, "print the version and exit")
	def := reflect.ValueOf(Default())
	for _, l := range keys.leaves {
		dv := def.FieldByIndex(l.index)
		usage := "env " + EnvPrefix + l.env
		short := shorthands[l.key]
		switch l.kind {
		case kindString:
			fset.StringP(l.key, short, dv.String(), usage)
		case kindBool:
			fset.BoolP(l.key, short, dv.Bool(), usage)
		case kindInt:
			fset.IntP(l.key, short, int(dv.Int()), usage)
		case kindInt64:
			fset.Int64P(l.key, short, dv.Int(), usage)
		case kindUint32:
			fset.Uint32P(l.key, short, uint32(dv.Uint()), usage)
		case kindDuration:
			fset.DurationP(l.key, short, time.Duration(dv.Int()), usage)
		case kindStrings:
			fset.StringSliceP(l.key, short, dv.Interface().([]string), usage)
		case kindJSON:
			// Not a flag: set it in the file or as JSON in env.
		}
	}
	return fset
}

// Usage returns the command-line help: synopsis, precedence and every flag with
// its env variable and default.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: unisse [-c config.json] [--key value ...]

unisse takes a Centrifugo v6 JSON config file unchanged. Every key can be set in
the file, as an environment variable UNISSE_<KEY> (or CENTRIFUGO_<KEY>) with the
key upper-cased and '.' replaced by '_', and as a flag --<key>. Precedence:
defaults < file < CENTRIFUGO_* < UNISSE_* < flags. channel.namespaces and the
*.transforms lists are set in the file or as JSON in env.

Flags:
`)
	b.WriteString(newFlagSet().FlagUsages())
	return b.String()
}

// decoderConfig is the one decoder used for file, env and flags: json tags,
// weak typing as Centrifugo (viper) has, Go duration strings.
func decoderConfig(result any) *mapstructure.DecoderConfig {
	return &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		WeaklyTypedInput: true,
		TagName:          "json",
		Result:           result,
	}
}

func decode(input, result any) error {
	d, err := mapstructure.NewDecoder(decoderConfig(result))
	if err != nil {
		return err
	}
	return d.Decode(input)
}

// Load builds Options from, in increasing precedence: Default(), the JSON file
// named by -c/--config (or ./config.json when -c is absent and that file exists),
// CENTRIFUGO_* then UNISSE_* environment variables, and command-line flags.
//
// args are the command-line arguments without the program name (os.Args[1:]);
// environ is the environment as os.Environ returns it. Load does not read the
// process environment itself and does not call Validate.
//
// It returns ErrHelp or ErrVersion when -h/--help or --version is given. Errors
// name the flag, file, variable or key at fault and wrap the cause. An
// unknown key that is a near miss of a secret setting is an error
// (*NearMissError; the Options and Report are filled in all the same, for
// checkers): see Report.DidYouMean.
// Safe to call from any goroutine.
func Load(args []string, environ []string) (Options, Report, error) {
	var rep Report
	fset := newFlagSet()
	if err := fset.Parse(args); err != nil {
		return Options{}, rep, fmt.Errorf("config: %w", err)
	}
	if help, _ := fset.GetBool("help"); help {
		return Options{}, rep, ErrHelp
	}
	if version, _ := fset.GetBool("version"); version {
		return Options{}, rep, ErrVersion
	}
	if fset.NArg() > 0 {
		return Options{}, rep, fmt.Errorf("config: unexpected argument %q (flags take values as --key value or --key=value; booleans only as --key=false)", fset.Arg(0))
	}

	ld := &loader{ignored: map[string]bool{}}
	k := koanf.New(".")

	path, _ := fset.GetString("config")
	if path != "" {
		used, err := ld.loadFile(k, path, fset.Changed("config"))
		if err != nil {
			return Options{}, rep, err
		}
		if used {
			rep.File = path
		}
	}

	cf := ld.newEnvSource(CentrifugoEnvPrefix)
	un := ld.newEnvSource(EnvPrefix)
	for _, src := range []*envSource{cf, un} {
		if err := k.Load(env.Provider(".", env.Opt{
			Prefix:        src.prefix,
			EnvironFunc:   func() []string { return environ },
			TransformFunc: src.transform,
		}), nil); err != nil {
			return Options{}, rep, fmt.Errorf("config: environment: %w", err)
		}
	}
	if len(ld.errs) > 0 {
		return Options{}, rep, errors.Join(ld.errs...)
	}

	if err := k.Load(posflag.ProviderWithFlag(fset, ".", k, func(f *pflag.Flag) (string, any) {
		if !f.Changed || keys.byKey[f.Name] == nil {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fset, f)
	}), nil); err != nil {
		return Options{}, rep, fmt.Errorf("config: flags: %w", err)
	}

	o := Default()
	if err := k.UnmarshalWithConf("", &o, koanf.UnmarshalConf{Tag: "json", DecoderConfig: decoderConfig(nil)}); err != nil {
		return Options{}, rep, fmt.Errorf("config: %w", err)
	}

	// Per-namespace variables, CENTRIFUGO_ first so that UNISSE_ wins.
	for _, src := range []*envSource{cf, un} {
		src.applyNamespaces(&o)
	}
	if len(ld.errs) > 0 {
		return Options{}, rep, errors.Join(ld.errs...)
	}
	zeroMeansDefault(&o)
	for _, k := range unimplementedValues(&o) {
		ld.ignored[k] = true
	}

	rep.Ignored, rep.Unsupported, rep.Unknown = ld.report()
	if errs := nearMisses(&rep); len(errs) > 0 {
		// The options come back too, so that a checker can report the
		// rest of what is wrong with them; a server must not start.
		return o, rep, errors.Join(errs...)
	}
	return o, rep, nil
}

// zeroMeansDefault gives size limits that a config sets to 0 their default
// value, as centrifuge does (a Centrifugo config with an explicit 0 must load).
func zeroMeansDefault(o *Options) {
	d := Default()
	if o.Client.QueueMaxSize == 0 {
		o.Client.QueueMaxSize = d.Client.QueueMaxSize
	}
	if o.UniSSE.MaxRequestBodySize == 0 {
		o.UniSSE.MaxRequestBodySize = d.UniSSE.MaxRequestBodySize
	}
	if o.Client.PresenceUpdateInterval == 0 {
		// centrifuge's own zero value (node.go), not Centrifugo's 27s
		// default: what a Centrifugo node with an explicit 0 does.
		o.Client.PresenceUpdateInterval = 25 * time.Second
	}
}

// loader carries the state of one Load call.
type loader struct {
	ignored map[string]bool // ignored key or env name → is a Centrifugo key
	errs    []error
}

func (ld *loader) ignoreKey(key string) { ld.ignored[key] = isCentrifugoKey(key) }

func (ld *loader) report() (all, unsupported, unknown []string) {
	for k, cf := range ld.ignored {
		all = append(all, k)
		if cf {
			unsupported = append(unsupported, k)
		} else {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(all)
	sort.Strings(unsupported)
	sort.Strings(unknown)
	return all, unsupported, unknown
}

// loadFile reads the JSON file into k. A missing file is not an error when the
// path is the implicit default (used reports false then).
func (ld *loader) loadFile(k *koanf.Koanf, path string, explicit bool) (used bool, err error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".toml":
		return false, fmt.Errorf("config: config file %s: only JSON is supported (Centrifugo also reads YAML and TOML; convert it to JSON)", path)
	}
	b, err := file.Provider(path).ReadBytes()
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("config: reading config file: %w", err)
	}
	mp, err := kjson.Parser().Unmarshal(b)
	if err != nil {
		return false, fmt.Errorf("config: parsing config file %s: %w", path, err)
	}
	lowered, _ := lowerKeys(mp).(map[string]any)
	if lowered == nil {
		lowered = map[string]any{} // the file is JSON null
	}
	// Decode the file alone first, so that a type error is blamed on the file.
	scratch := Default()
	if err := decode(lowered, &scratch); err != nil {
		return false, fmt.Errorf("config: config file %s: %w", path, err)
	}
	unknownKeys(lowered, reflect.TypeFor[Options](), "", ld.ignoreKey)
	if err := k.Load(confmap.Provider(lowered, ""), nil); err != nil {
		return false, fmt.Errorf("config: config file %s: %w", path, err)
	}
	return true, nil
}

// envSource is one environment prefix.
type envSource struct {
	ld     *loader
	prefix string
	// ns holds CHANNEL_NAMESPACES_<NAME>_<OPTION> variables (name without prefix →
	// value) until the namespace names are known.
	ns map[string]string
}

func (ld *loader) newEnvSource(prefix string) *envSource {
	return &envSource{ld: ld, prefix: prefix, ns: map[string]string{}}
}

// k8sEnvRe matches variables Kubernetes injects for a service named unisse or
// centrifugo (FOO_PORT, FOO_SERVICE_HOST, ...); like Centrifugo, they are not
// reported as unknown.
var k8sEnvRe = regexp.MustCompile(`^(?:UNISSE|CENTRIFUGO)(?:_[A-Z0-9_]+)?_(?:PORT|SERVICE_)`)

// transform is the env provider's TransformFunc: it maps a variable to its key by
// looking the name up in the key table (never by splitting on '_') and parses
// the value by the key's type. Empty values count as unset, as in Centrifugo.
func (s *envSource) transform(name, val string) (string, any) {
	short := strings.TrimPrefix(name, s.prefix)
	l, ok := keys.byEnv[short]
	if !ok {
		if strings.HasPrefix(short, "CHANNEL_NAMESPACES_") {
			s.ns[short] = val
			return "", nil
		}
		s.ignoreEnv(name, short)
		return "", nil
	}
	if val == "" {
		return "", nil
	}
	v, err := parseText(*l, val)
	if err != nil {
		s.ld.errs = append(s.ld.errs, fmt.Errorf("config: environment variable %s (%s): %w", name, l.key, err))
		return "", nil
	}
	if l.kind == kindJSON {
		unknownKeys(v, l.typ, l.key, s.ld.ignoreKey)
	}
	return l.key, v
}

func (s *envSource) ignoreEnv(name, short string) {
	if k8sEnvRe.MatchString(name) || strings.HasPrefix(name, "CENTRIFUGO_VAR_") {
		return
	}
	s.ld.ignored[name] = isCentrifugoEnv(short)
}

// applyNamespaces applies <PREFIX>CHANNEL_NAMESPACES_<NAME>_<OPTION> variables to
// the loaded namespaces, <NAME> being the namespace name upper-cased with '.' and
// '-' as '_' (Centrifugo's scheme). Variables matching no namespace are ignored.
func (s *envSource) applyNamespaces(o *Options) {
	for i := range o.Channel.Namespaces {
		ns := &o.Channel.Namespaces[i]
		pre := "CHANNEL_NAMESPACES_" + nameForEnv(ns.Name) + "_"
		set := map[string]any{}
		for _, l := range keys.nsLeaves {
			val, ok := s.ns[pre+l.env]
			if !ok {
				continue
			}
			delete(s.ns, pre+l.env)
			if val == "" {
				continue
			}
			v, err := parseText(l, val)
			if err != nil {
				s.ld.errs = append(s.ld.errs, fmt.Errorf("config: environment variable %s%s (channel.namespaces[%d].%s): %w", s.prefix, pre+l.env, i, l.key, err))
				continue
			}
			set[l.key] = v
		}
		if err := decode(set, ns); err != nil {
			s.ld.errs = append(s.ld.errs, fmt.Errorf("config: environment for namespace %q: %w", ns.Name, err))
		}
	}
	for short := range s.ns {
		s.ignoreEnv(s.prefix+short, short)
	}
}

// parseText parses an env (or other textual) value for leaf l.
func parseText(l leaf, s string) (any, error) {
	switch l.kind {
	case kindString:
		return s, nil
	case kindBool:
		return strconv.ParseBool(s)
	case kindInt:
		n, err := strconv.ParseInt(s, 0, strconv.IntSize)
		return int(n), err
	case kindInt64:
		return strconv.ParseInt(s, 0, 64)
	case kindUint32:
		n, err := strconv.ParseUint(s, 0, 32)
		return uint32(n), err
	case kindDuration:
		return time.ParseDuration(s)
	case kindStrings:
		return strings.Fields(s), nil
	case kindJSON:
		return parseJSONList(l, s)
	}
	return nil, fmt.Errorf("unsupported kind %d", l.kind)
}

// parseJSONList parses a slice-of-structs value: a JSON array or, for lists of
// named items (channel.namespaces), a space-separated list of names as Centrifugo
// accepts. The result stays raw (with lower-cased keys) for koanf to merge; it is
// decoded once here so that a bad element is blamed on the variable.
func parseJSONList(l leaf, s string) (any, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") {
		var raw any
		if err := json.Unmarshal([]byte(t), &raw); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		raw = lowerKeys(raw)
		if err := decode(raw, reflect.New(l.typ).Interface()); err != nil {
			return nil, err
		}
		return raw, nil
	}
	if _, named := structFields(l.typ.Elem())["name"]; named {
		var out []any
		for _, name := range strings.Fields(t) {
			out = append(out, map[string]any{"name": name})
		}
		return out, nil
	}
	return nil, errors.New("want a JSON array")
}
