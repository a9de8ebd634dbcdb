// Command unisse runs the server: a drop-in replacement for Centrifugo v6's
// uni_sse transport and server HTTP API. It takes a Centrifugo JSON config
// (-c config.json), environment (UNISSE_… or CENTRIFUGO_…) and flags
// (--http_server.port 9000). All behaviour lives in package engine; this file
// only wires configuration, logging, signals and the start-up banner, and exits
// 1 when the engine stops by itself (engine.Server.Done).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when unisse.pprof_address is set
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
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
	if err := run(os.Args[1:], os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "unisse:", err)
		os.Exit(1)
	}
}

func run(args, environ []string, out io.Writer) error {
	opts, rep, err := config.Load(args, environ)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(out, config.Usage())
		return nil
	case errors.Is(err, config.ErrVersion):
		fmt.Fprintln(out, engine.Version)
		return nil
	case err != nil:
		return err
	}
	log := newLogger(opts.Log, out)
	if rep.File != "" {
		log.Info("config loaded", "file", rep.File)
	}
	if len(rep.Unsupported) > 0 {
		log.Warn("ignoring Centrifugo settings unisse does not implement", "keys", rep.Unsupported)
	}
	if len(rep.Unknown) > 0 {
		log.Warn("ignoring unknown settings", "keys", rep.Unknown)
	}
	generated := fillSecrets(&opts)
	if err := opts.Validate(); err != nil {
		return err
	}
	srv, err := engine.New(opts, engine.WithLogger(log))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	printBanner(out, &opts, generated)
	if opts.Unisse.PprofAddress != "" {
		go func() {
			// pprof's handlers are registered on http.DefaultServeMux.
			err := http.ListenAndServe(opts.Unisse.PprofAddress, nil) //nolint:gosec // debug listener, operator-chosen address
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
	ctx, cancel := context.WithTimeout(context.Background(), opts.Unisse.ShutdownTimeout)
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
// that work when pasted.
func printBanner(w io.Writer, o *config.Options, g generatedSecrets) {
	host := o.HTTPServer.Address
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	base := "http://" + host + ":" + strconv.Itoa(o.HTTPServer.Port)
	apiBase := base
	if o.HTTPServer.InternalPort != "" {
		apiBase = "http://" + host + ":" + o.HTTPServer.InternalPort
	}
	fmt.Fprintf(w, "\nunisse %s listening on %s\n", engine.Version, base)
	if g.hmac {
		fmt.Fprintf(w, "  generated client.token.hmac_secret_key: %s\n", o.Client.Token.HMACSecretKey)
	}
	if g.apiKey {
		fmt.Fprintf(w, "  generated http_api.key: %s\n", o.HTTPAPI.Key)
	}
	if !o.UniSSE.Enabled {
		return
	}
	connect := `{}`
	if o.Client.Token.HMACSecretKey != "" {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "demo", "channels": []string{"news"}, "exp": time.Now().Add(time.Hour).Unix(),
		})
		if s, err := tok.SignedString([]byte(o.Client.Token.HMACSecretKey)); err == nil {
			connect = `{"token":"` + s + `"}`
		}
	}
	fmt.Fprintf(w, "\nConnect (user demo, channel news, token valid 1h):\n  curl -N '%s%s?cf_connect=%s'\n",
		base, o.UniSSE.HandlerPrefix, url.QueryEscape(connect))
	fmt.Fprintf(w, "\nPublish:\n  curl -H 'X-API-Key: %s' -d '{\"channel\":\"news\",\"data\":{\"text\":\"hello\"}}' %s%s/publish\n\n",
		o.HTTPAPI.Key, apiBase, o.HTTPAPI.HandlerPrefix)
}

func newLogger(l config.Log, out io.Writer) *slog.Logger {
	var level slog.Level
	switch l.Level {
	case "none":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
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
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
