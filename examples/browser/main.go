// Command browser serves the unisse browser example: one page (index.html,
// app.js; no build step, no framework) that connects to unisse's uni_sse
// endpoint with EventSource and shows the connect push, publications, pings
// and disconnects live, and reconnects.
//
// It plays the application's backend: it serves the page and hands it the
// unisse URL and a connection token in a generated /config.js. The token is
// -token, made with `unisse gentoken` from the server's config (an
// application's backend signs one per user the same way):
//
//	go run ./examples/browser -unisse http://127.0.0.1:8000 \
//	    -token "$(bin/unisse gentoken -c config.json -u demo --channels news)"
//
// The page is served from another origin than unisse, so unisse must list it
// in client.allowed_origins (examples/browser/run.sh writes such a config).
// See examples/browser/README.md.
package main

import (
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

//go:embed index.html app.js
var static embed.FS

// pageConfig is what the page receives as window.UNISSE_CONFIG.
type pageConfig struct {
	// URL is unisse's uni_sse endpoint, e.g. http://127.0.0.1:8000/connection/uni_sse.
	URL string `json:"url"`
	// Token is the connection JWT the page sends in cf_connect.
	Token string `json:"token"`
}

// newHandler serves the page and its generated config.js.
func newHandler(cfg pageConfig) (http.Handler, error) {
	// json.Marshal escapes <, > and & (as \u003c…), so no value can end the
	// script early.
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("config.js: %w", err)
	}
	configJS := []byte("window.UNISSE_CONFIG = " + string(js) + ";\n")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store") // the token changes per run
		_, _ = w.Write(configJS)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // none; spares the console a 404
	})
	mux.Handle("GET /", http.FileServerFS(static))
	return mux, nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "browser example:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("browser", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:3000", "address to serve the page on")
	unisse := fs.String("unisse", "http://127.0.0.1:8000", "unisse's base URL (or the full uni_sse endpoint URL)")
	token := fs.String("token", "", "connection token for the page (e.g. from `unisse gentoken`)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cfg := pageConfig{URL: *unisse, Token: *token}
	if !strings.Contains(cfg.URL, "/connection/") {
		cfg.URL = strings.TrimSuffix(cfg.URL, "/") + "/connection/uni_sse"
	}
	if cfg.Token == "" {
		return errors.New("need -token (the page cannot connect without one: bin/unisse gentoken -c CONFIG -u USER --channels news)")
	}

	h, err := newHandler(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "browser example: open http://%s/ (connects to %s)\n", ln.Addr(), cfg.URL)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
