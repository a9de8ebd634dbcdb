// Command unisse runs the server: a drop-in replacement for Centrifugo v6's
// uni_sse transport and server HTTP API. It takes a Centrifugo JSON config
// (-c config.json), environment (UNISSE_… or CENTRIFUGO_…) and flags
// (--http_server.port 9000). All behaviour lives in package engine; this file
// only wires configuration, logging, signals and the start-up banner, and exits
// 1 when the engine stops by itself (engine.Server.Done). cli.go holds the
// subcommands (version, genconfig, checkconfig, gentoken), named as
// Centrifugo's.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when unisse.pprof_address is set
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/config"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The publish → fan-out → write path allocates nothing, so a low GC
		// target costs little CPU while keeping the heap close to the live
		// connection state: memory per idle connection is what operators pay for.
		debug.SetGCPercent(25)
	}
	if err := dispatch(os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "unisse:", err)
		os.Exit(1)
	}
}

func run(args, environ []string, out io.Writer) error {
	opts, rep, err := config.Load(args, environ)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(out, usage())
		return nil
	case errors.Is(err, config.ErrVersion):
		fmt.Fprintln(out, versionString())
		return nil
	case err != nil:
		return err
	}
	if err := checkLogFile(opts.Log.File); err != nil {
		return err
	}
	log := newLogger(opts.Log, opts.Own.LogFormat, out)
	logStartup(log, out, &opts, rep)
	generated := fillSecrets(&opts)
	if err := opts.Validate(); err != nil {
		return err
	}
	nodeID := newNodeID()
	be, err := newBackends(&opts, nodeID)
	if err != nil {
		return err
	}
	defer be.closePresence()
	srv, err := engine.New(opts, engine.WithLogger(log), engine.WithBroker(be.broker),
		engine.WithPresenceManager(be.presence), engine.WithNodeID(nodeID))
	if err != nil {
		_ = be.broker.Close()
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	printBanner(out, &opts, generated)
	if opts.Own.PprofAddress != "" {
		go func() {
			// pprof's handlers are registered on http.DefaultServeMux.
			err := http.ListenAndServe(opts.Own.PprofAddress, nil) //nolint:gosec // debug listener, operator-chosen address
			log.Error("pprof listener stopped", "err", err)
		}()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var s os.Signal
	select {
	case s = <-sig:
	case err := <-srv.Done():
		// The engine stopped serving by itself (a listener or an event loop
		// is gone): exit non-zero at once so that a supervisor restarts the
		// process, rather than linger half-alive. Clients reconnect.
		log.Error("engine stopped unexpectedly; exiting", "err", err)
		return err
	}
	log.Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout())
	defer cancel()
	if err := srv.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// generatedSecrets records what fillSecrets made up.
type generatedSecrets struct {
	hmac, apiKey bool
}

// fillSecrets gives an embedded-default server a random HMAC secret and API
// key when the configuration has none, so that it is secure out of the box
// and still usable (the banner prints both).
func fillSecrets(o *config.Options) generatedSecrets {
	var g generatedSecrets
	t := &o.Client.Token
	if !o.Client.Insecure && t.HMACSecretKey == "" && t.RSAPublicKey == "" && t.ECDSAPublicKey == "" && t.JWKSPublicEndpoint == "" {
		t.HMACSecretKey = randomHex(32)
		g.hmac = true
	}
	if !o.HTTPAPI.Insecure && o.HTTPAPI.Key == "" {
		o.HTTPAPI.Key = randomHex(16)
		g.apiKey = true
	}
	return g
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// printBanner tells the operator how to connect and publish, with commands
// that work when pasted. It prints a secret only if fillSecrets generated it:
// a configured HMAC secret or API key stays out of the output (terminals and
// log collectors keep it), and so does any token signed with it.
func printBanner(w io.Writer, o *config.Options, g generatedSecrets) {
	listen, base := endpoint(o.HTTPServer.Address, strconv.Itoa(o.HTTPServer.Port))
	apiBase := base
	if listen != base {
		fmt.Fprintf(w, "\nunisse %s listening on %s (all interfaces); try %s\n", engine.Version, listen, base)
	} else {
		fmt.Fprintf(w, "\nunisse %s listening on %s\n", engine.Version, base)
	}
	if p := o.HTTPServer.InternalPort; p != "" && p != strconv.Itoa(o.HTTPServer.Port) {
		addr := o.HTTPServer.InternalAddress
		if addr == "" {
			addr = o.HTTPServer.Address
		}
		var ilisten string
		ilisten, apiBase = endpoint(addr, p)
		fmt.Fprintf(w, "  server API, health and metrics on %s\n", ilisten)
	}
	if g.hmac {
		fmt.Fprintf(w, "  generated client.token.hmac_secret_key: %s\n", o.Client.Token.HMACSecretKey)
	}
	if g.apiKey {
		fmt.Fprintf(w, "  generated http_api.key: %s\n", o.HTTPAPI.Key)
	}
	if !o.UniSSE.Enabled {
		return
	}
	connectURL := base + o.UniSSE.HandlerPrefix
	t := &o.Client.Token
	switch {
	case o.Client.Insecure:
		fmt.Fprintf(w, "\nConnect (client.insecure: no token, channel news):\n  curl -N '%s?cf_connect=%s'\n",
			connectURL, url.QueryEscape(`{"subs":{"news":{}}}`))
	case g.hmac:
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "demo", "channels": []string{"news"}, "exp": time.Now().Add(time.Hour).Unix(),
		})
		if s, err := tok.SignedString([]byte(t.HMACSecretKey)); err == nil {
			fmt.Fprintf(w, "\nConnect (user demo, channel news, token valid 1h):\n  curl -N '%s?cf_connect=%s'\n",
				connectURL, url.QueryEscape(`{"token":"`+s+`"}`))
		}
	default:
		fmt.Fprintf(w, "\nConnect with a token %s (claims: sub, channels, exp):\n  curl -N -G '%s' --data-urlencode 'cf_connect={\"token\":\"<JWT>\"}'\n",
			tokenSource(t), connectURL)
		if o.Client.AllowAnonymousConnectWithoutToken {
			fmt.Fprintf(w, "or anonymously, without one:\n  curl -N '%s'\n", connectURL)
		}
	}
	switch {
	case o.HTTPAPI.Insecure:
		fmt.Fprintf(w, "\nPublish (http_api.insecure: no API key):\n  curl -d '{\"channel\":\"news\",\"data\":{\"text\":\"hello\"}}' %s%s/publish\n\n",
			apiBase, o.HTTPAPI.HandlerPrefix)
	case g.apiKey:
		fmt.Fprintf(w, "\nPublish:\n  curl -H 'X-API-Key: %s' -d '{\"channel\":\"news\",\"data\":{\"text\":\"hello\"}}' %s%s/publish\n\n",
			o.HTTPAPI.Key, apiBase, o.HTTPAPI.HandlerPrefix)
	default:
		fmt.Fprintf(w, "\nPublish (using the configured http_api.key):\n  curl -H 'X-API-Key: <http_api.key>' -d '{\"channel\":\"news\",\"data\":{\"text\":\"hello\"}}' %s%s/publish\n\n",
			apiBase, o.HTTPAPI.HandlerPrefix)
	}
}

// endpoint describes a listener on address:port: what it binds, and a base
// URL to try it with. A wildcard address (empty, 0.0.0.0, ::) binds every
// interface, which the first says, while the URL uses the loopback
// address; otherwise both are the configured address.
func endpoint(address, port string) (listen, base string) {
	switch address {
	case "", "0.0.0.0":
		return "0.0.0.0:" + port, "http://" + net.JoinHostPort("127.0.0.1", port)
	case "::":
		return "[::]:" + port, "http://" + net.JoinHostPort("::1", port)
	}
	base = "http://" + net.JoinHostPort(address, port)
	return base, base
}

// tokenSource says, without revealing it, which configured key verifies
// connection tokens.
func tokenSource(t *config.Token) string {
	switch {
	case t.HMACSecretKey != "":
		return "signed (HS256) with the configured client.token.hmac_secret_key"
	case t.RSAPublicKey != "":
		return "signed with the private key of the configured client.token.rsa_public_key"
	case t.ECDSAPublicKey != "":
		return "signed with the private key of the configured client.token.ecdsa_public_key"
	default:
		return "signed with a key published at the configured client.token.jwks_public_endpoint"
	}
}

// logStartup logs what an operator must know before the server takes
// traffic: the config file, the settings that are ignored, and a warning for
// every mode that lets someone in without credentials. Those warnings go to
// to out instead when the log level hides warnings: log.level=error or none
// must not silence them.
func logStartup(log *slog.Logger, out io.Writer, o *config.Options, rep config.Report) {
	if rep.File != "" {
		log.Info("config loaded", "file", rep.File)
	}
	if len(rep.Unsupported) > 0 {
		log.Warn("ignoring Centrifugo settings unisse does not implement", "keys", rep.Unsupported)
	}
	// A near miss gets a line of its own naming the key it probably means
	// (near misses of secret settings never get here: Load refuses them).
	var unknown []string
	for _, k := range rep.Unknown {
		if m, ok := rep.DidYouMean[k]; ok {
			log.Warn("unknown key " + k + ": did you mean " + m + "? (ignored)")
			continue
		}
		unknown = append(unknown, k)
	}
	if len(unknown) > 0 {
		log.Warn("ignoring unknown settings", "keys", unknown)
	}
	// log.level=none discards through a handler that reports itself enabled.
	loud := o.Log.Level != "none" && log.Enabled(context.Background(), slog.LevelWarn)
	for _, w := range insecureModes(o) {
		if loud {
			log.Warn(w)
		} else {
			fmt.Fprintln(out, "WARNING: "+w)
		}
	}
}

// insecureModes describes each enabled setting that removes or weakens
// authentication, saying what is exposed to whom. Besides Centrifugo's own
// INSECURE warnings (client.insecure, http_api.insecure,
// client.insecure_skip_token_signature_verify) it covers
// client.allow_anonymous_connect_without_token, which lets clients hold
// streams without any credentials, a JWKS endpoint fetched over plain http,
// whose keys an on-path attacker can replace, and unisse.pprof_address,
// whose heap profiles contain secrets and tokens.
func insecureModes(o *config.Options) []string {
	var out []string
	api := "on the client port " + strconv.Itoa(o.HTTPServer.Port)
	if o.HTTPServer.InternalPort != "" && o.HTTPServer.InternalPort != strconv.Itoa(o.HTTPServer.Port) {
		api = "on the internal port " + o.HTTPServer.InternalPort
		if o.HTTPAPI.External {
			api += " and, with http_api.external, on the client port " + strconv.Itoa(o.HTTPServer.Port)
		}
	}
	if o.Client.Insecure {
		out = append(out, "INSECURE client mode (client.insecure): clients connect to "+o.UniSSE.HandlerPrefix+
			" without a token, may subscribe to any channel (private ones included) and never expire: anyone who reaches the server reads every channel")
	}
	if o.Client.InsecureSkipTokenSignatureVerify {
		out = append(out, "INSECURE token mode (client.insecure_skip_token_signature_verify): connection token signatures are not checked: anyone can forge a token for any user and any channels")
	}
	if o.HTTPAPI.Insecure {
		out = append(out, "INSECURE HTTP API mode (http_api.insecure): the server API at "+o.HTTPAPI.HandlerPrefix+" needs no API key "+api+
			": anyone who reaches it can publish, read history and presence, subscribe and disconnect users")
	}
	if o.Client.AllowAnonymousConnectWithoutToken && !o.Client.Insecure {
		out = append(out, "anonymous connects (client.allow_anonymous_connect_without_token): clients connect to "+o.UniSSE.HandlerPrefix+
			" without a token and hold a stream; they read the channels they ask for in namespaces with allow_subscribe_for_client and allow_subscribe_for_anonymous")
	}
	if e := o.Client.Token.JWKSPublicEndpoint; len(e) >= 7 && strings.EqualFold(e[:7], "http://") {
		out = append(out, "client.token.jwks_public_endpoint is plain http: whoever can alter that traffic can substitute keys and forge connection tokens")
	}
	if o.Own.PprofAddress != "" {
		out = append(out, "unisse.pprof_address serves /debug/pprof/ on "+o.Own.PprofAddress+
			" without authentication: its heap profiles contain keys and tokens; keep it on loopback")
	}
	return out
}

// newLogger returns the logger log.level, log.file and unisse.log_format
// ask for: slog text lines, or one JSON object a line with format "json".
// Levels are Centrifugo's (Validate refuses others): trace logs what debug
// does and more, fatal what error does.
// checkLogFile fails start-up when log.file is set but cannot be opened for
// appending: logging to stdout instead would hide every line from whoever
// reads the file the operator configured.
func checkLogFile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log.file: %w", err)
	}
	return f.Close()
}

func newLogger(l config.Log, format string, out io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(l.Level) {
	case "none":
		return slog.New(slog.DiscardHandler)
	case "trace":
		level = slog.LevelDebug - 4
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error", "fatal":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	w := out
	if l.File != "" {
		if f, err := os.OpenFile(l.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			w = f
		}
	}
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
