//go:build ignore

// capture records a server's raw HTTP response to a recovering uni_sse
// connect, for the Checker's tests: it publishes -n bench payloads to a fresh
// channel hist:capture<ns>, reads the stream position, connects with a token
// for that channel asking to recover from offset -from with the epoch (or
// with -epoch), and writes every byte the server sends until it has been
// quiet for 300 ms.
//
//	go run bench/recovery/testdata/capture.go -addr 127.0.0.1:18600 -n 300 -o bench/recovery/testdata/centrifugo-300.http
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/unisse/unisse/bench/payload"
	"github.com/unisse/unisse/bench/token"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "server host:port (API and uni_sse)")
	secret := flag.String("secret", "bench-secret", "HMAC secret")
	key := flag.String("key", "bench-api-key", "API key")
	n := flag.Int("n", 300, "publications")
	size := flag.Int("size", 100, "payload bytes")
	from := flag.Uint64("from", 0, "offset to recover from")
	epoch := flag.String("epoch", "", "epoch to send (default: the stream's)")
	out := flag.String("o", "", "output file")
	flag.Parse()

	ch := "hist:capture" + strconv.FormatInt(time.Now().UnixNano(), 10)
	api := func(method string, body any) map[string]any {
		js, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+*addr+"/api/"+method, bytes.NewReader(js))
		req.Header.Set("X-API-Key", *key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var r map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r["result"] == nil {
			log.Fatalf("%s: %v %v", method, r, err)
		}
		return r["result"].(map[string]any)
	}
	for i := 1; i <= *n; i++ {
		data := payload.Append(nil, 0, uint32(i), time.Now().UnixNano(), *size)
		api("publish", map[string]any{"channel": ch, "data": json.RawMessage(data)})
	}
	pos := api("history", map[string]any{"channel": ch, "limit": 0})
	e := pos["epoch"].(string)
	if *epoch != "" {
		e = *epoch
	}
	tok, err := token.Sign(*secret, "capture", []string{ch}, time.Now().Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	connect, _ := json.Marshal(map[string]any{"token": tok, "subs": map[string]any{ch: map[string]any{"recover": true, "offset": *from, "epoch": e}}})
	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /connection/uni_sse?cf_connect=%s HTTP/1.1\r\nHost: %s\r\n\r\n", url.QueryEscape(string(connect)), *addr)
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		k, err := conn.Read(buf)
		got.Write(buf[:k])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() || err == io.EOF {
				break
			}
			log.Fatal(err)
		}
	}
	if err := os.WriteFile(*out, got.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d bytes, channel %s, epoch %s", *out, got.Len(), ch, e)
}
