package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/pflag"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/config"
)

// commit is the VCS revision, stamped at build time with
// -ldflags "-X main.commit=<sha>"; when empty, the revision the Go
// toolchain recorded (go build in a git checkout) is used.
var commit string

// commands are the subcommands, named and flagged as Centrifugo v6's where
// Centrifugo has them. Without one of them as the first argument, unisse
// runs the server, so every existing invocation keeps its meaning.
var commands = map[string]func(args, environ []string, stdout, stderr io.Writer) error{
	"version":     versionCmd,
	"genconfig":   genconfigCmd,
	"checkconfig": checkconfigCmd,
	"gentoken":    gentokenCmd,
}

// usage is --help's text: the commands first, where a new user looks, then
// the server's flags.
func usage() string { return commandsHelp + "\n" + config.Usage() }

const commandsHelp = `Commands (unisse <command> -h for their flags):
  version       print the version, the Go version and the commit
  genconfig     write a starting config file (-c config.json) with a generated HMAC secret and API key
  checkconfig   validate a config file (-c config.json): errors, unknown and unsupported keys
  gentoken      print an HS256 connection token (-u user, --channels a,b, -t/--ttl) signed with the config's secret
`

// dispatch runs a subcommand when args starts with one, else the server.
func dispatch(args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if cmd, ok := commands[args[0]]; ok {
			return cmd(args[1:], environ, stdout, stderr)
		}
		if args[0] == "help" {
			fmt.Fprint(stdout, usage())
			return nil
		}
	}
	return run(args, environ, stdout)
}

// errHelpShown ends a subcommand whose -h printed its flags.
var errHelpShown = errors.New("help shown")

// parseFlags parses a subcommand's flags; it reports errHelpShown after
// printing the flags for -h.
func parseFlags(fs *pflag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	help := fs.BoolP("help", "h", false, "print this help and exit")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if *help {
		fmt.Fprintf(stdout, "Usage: unisse %s [flags]\n\nFlags:\n%s", fs.Name(), fs.FlagUsages())
		return errHelpShown
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func versionString() string {
	rev := commit
	if rev == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	s := "unisse " + engine.Version + " (Go version: " + runtime.Version()
	if rev != "" {
		s += ", commit " + rev
	}
	return s + ")"
}

func versionCmd(args, _ []string, stdout, _ io.Writer) error {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreHelp(err)
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}

func ignoreHelp(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// genconfigFile is what genconfig writes: Centrifugo's genconfig file
// (admin aside, which unisse does not serve) plus the endpoints unisse
// serves, spelled out so that the file also starts Centrifugo the same way.
type genconfigFile struct {
	Client struct {
		Token struct {
			HMACSecretKey string `json:"hmac_secret_key"`
		} `json:"token"`
		AllowedOrigins []string `json:"allowed_origins"`
	} `json:"client"`
	HTTPAPI struct {
		Key string `json:"key"`
	} `json:"http_api"`
	UniSSE struct {
		Enabled bool `json:"enabled"`
	} `json:"uni_sse"`
	Health struct {
		Enabled bool `json:"enabled"`
	} `json:"health"`
	Log struct {
		Level string `json:"level"`
	} `json:"log"`
}

func genconfigCmd(args, environ []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("genconfig", pflag.ContinueOnError)
	path := fs.StringP("config", "c", config.DefaultConfigFile, "path to the config file to write (JSON)")
	force := fs.BoolP("force", "f", false, "overwrite the file if it exists")
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreHelp(err)
	}
	if ext := strings.ToLower(filepath.Ext(*path)); ext != ".json" {
		return fmt.Errorf("genconfig: %s: only JSON config files are supported (name it *.json)", *path)
	}
	var c genconfigFile
	c.Client.Token.HMACSecretKey = randomHex(32)
	c.Client.AllowedOrigins = []string{}
	c.HTTPAPI.Key = randomHex(16)
	c.UniSSE.Enabled = true
	c.Health.Enabled = true
	c.Log.Level = "info"
	b, _ := json.MarshalIndent(&c, "", "  ")
	b = append(b, '\n')
	if _, err := os.Lstat(*path); err == nil && !*force {
		return fmt.Errorf("genconfig: %s already exists (use -f to overwrite it)", *path)
	}
	// Written to a new file (mode 0600: it holds secrets) next to the
	// target, checked, then renamed over it: an existing config is
	// replaced only by one that loads, and never keeps a wider mode.
	tmp, err := os.CreateTemp(filepath.Dir(*path), ".genconfig-*.json")
	if err != nil {
		return fmt.Errorf("genconfig: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("genconfig: writing %s: %w", tmp.Name(), err)
	}
	// As Centrifugo: the file must load and validate (with this
	// environment), or it is not written.
	if _, err := loadChecked(tmp.Name(), environ); err != nil {
		return fmt.Errorf("genconfig: the generated file does not load: %w", err)
	}
	if !*force {
		// Link rather than rename: it fails if the target appeared since
		// the check above, instead of replacing it.
		if err := os.Link(tmp.Name(), *path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("genconfig: %s already exists (use -f to overwrite it)", *path)
			}
			return fmt.Errorf("genconfig: %w", err)
		}
	} else if err := os.Rename(tmp.Name(), *path); err != nil {
		return fmt.Errorf("genconfig: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %s (client.token.hmac_secret_key and http_api.key generated; keep it private)\n", *path)
	return nil
}

// loadChecked loads path as the server would (file, then environment) and
// validates the result.
func loadChecked(path string, environ []string) (config.Options, error) {
	o, _, err := config.Load([]string{"-c", path}, environ)
	if err != nil {
		return o, err
	}
	return o, o.Validate()
}

// checkconfigCmd validates a config file as start-up would, and lists the
// keys the server would ignore. Errors (exit 1): a file that is missing,
// malformed or has a wrong type, a value Validate refuses (log.level
// included), and an unknown key close to a secret setting's name. With
// --strict, unknown keys are errors too (Centrifugo's -s).
func checkconfigCmd(args, environ []string, stdout, _ io.Writer) error {
	fs := pflag.NewFlagSet("checkconfig", pflag.ContinueOnError)
	path := fs.StringP("config", "c", config.DefaultConfigFile, "path to the config file to check")
	strict := fs.BoolP("strict", "s", false, "strict check: fail on unknown keys")
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreHelp(err)
	}
	o, rep, err := config.Load([]string{"-c", *path}, environ)
	for _, k := range rep.Unsupported {
		fmt.Fprintf(stdout, "unsupported key %s: a Centrifugo setting unisse does not implement (ignored)\n", k)
	}
	for _, k := range rep.Unknown {
		fmt.Fprintf(stdout, "unknown key %s%s\n", k, rep.Hint(k))
	}
	var nm *config.NearMissError
	if err == nil || errors.As(err, &nm) {
		// A near miss leaves the options loaded: check them all the same,
		// so that one run lists every mistake.
		err = errors.Join(err, o.Validate())
	}
	if err != nil {
		return fmt.Errorf("checkconfig: %s is not valid:\n%w", *path, err)
	}
	if *strict && len(rep.Unknown) > 0 {
		return fmt.Errorf("checkconfig: %s has %d unknown key(s) (--strict)", *path, len(rep.Unknown))
	}
	fmt.Fprintf(stdout, "%s: valid\n", *path)
	return nil
}

// gentokenCmd prints a connection JWT (HS256) signed with the config's
// client.token.hmac_secret_key: sub the user (or the client.token.user_id_claim
// claim, as Centrifugo), channels, iat, and exp unless the TTL is -1. Only
// the token goes to stdout, on one line, so that scripts can take it as is
// (Centrifugo's -q; accepted and implied); what it is goes to stderr.
func gentokenCmd(args, environ []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("gentoken", pflag.ContinueOnError)
	path := fs.StringP("config", "c", config.DefaultConfigFile, "path to the config file")
	user := fs.StringP("user", "u", "", "user ID (the sub claim); empty: anonymous")
	ttlText := fs.StringP("ttl", "t", "604800", "token TTL: seconds (Centrifugo's form) or a Go duration such as 1h; -1: no expiration")
	channels := fs.StringSlice("channels", nil, "server-side channels (the channels claim), comma-separated")
	fs.BoolP("quiet", "q", false, "only print the token (always the case on stdout)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreHelp(err)
	}
	ttl, err := parseTTL(*ttlText)
	if err != nil {
		return fmt.Errorf("gentoken: --ttl %q: %w", *ttlText, err)
	}
	o, err := loadChecked(*path, environ)
	if err != nil {
		return fmt.Errorf("gentoken: %w", err)
	}
	secret := o.Client.Token.HMACSecretKey
	if secret == "" {
		return fmt.Errorf("gentoken: %s sets no client.token.hmac_secret_key: gentoken signs HS256 tokens only (with RSA, ECDSA or JWKS keys, sign tokens with your own tooling)", *path)
	}
	tok, err := signToken(secret, o.Client.Token.UserIDClaim, *user, *channels, ttl, time.Now())
	if err != nil {
		return fmt.Errorf("gentoken: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	who := "anonymous user"
	if *user != "" {
		who = strconv.Quote(*user)
	}
	exp := "without expiration"
	if ttl > 0 {
		exp = "valid " + ttl.String()
	}
	fmt.Fprintf(stderr, "HS256 connection token for %s, channels %v, %s\n", who, *channels, exp)
	return nil
}

// parseTTL reads gentoken's TTL: whole seconds as Centrifugo's -t, or a Go
// duration. A negative value (Centrifugo's -1) means no exp claim.
func parseTTL(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return -1, nil
		}
		if n == 0 {
			return 0, errors.New("must not be 0 (a token that expires at once); -1 for no expiration")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("want seconds or a duration such as 1h")
	case d < 0:
		return -1, nil
	case d < time.Second:
		return 0, errors.New("must be at least 1s (exp has second precision); -1 for no expiration")
	}
	return d, nil
}

func signToken(secret, userClaim, user string, channels []string, ttl time.Duration, now time.Time) (string, error) {
	claims := jwt.MapClaims{"sub": user, "iat": now.Unix()}
	if userClaim != "" {
		claims[userClaim] = user
	}
	if len(channels) > 0 {
		claims["channels"] = channels
	}
	if ttl > 0 {
		claims["exp"] = now.Add(ttl).Unix()
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
