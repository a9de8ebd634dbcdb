package api

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/unisse/unisse/engine/protocol"
)

type batchRequest struct {
	Commands []json.RawMessage `json:"commands"`
	Parallel bool              `json:"parallel"`
}

type batchCommand struct {
	method Method
	req    any
	perr   *protocol.Error // set when the command itself is invalid (null, unknown method)
}

// serveBatch handles /api/batch: {"commands":[{"<method>":{…}},…]} →
// {"replies":[{"<method>":{…}}|{"error":{…}},…]} in command order. Every
// command is decoded before any runs, so a body that does not decode as a
// whole is 400 with no side effects, as in Centrifugo. Commands run one after
// another even with "parallel": true (Centrifugo runs them concurrently, so
// their relative order is unspecified there; sequential is one valid order).
func (h *Handler) serveBatch(dst []byte, body []byte) Response {
	var br batchRequest
	if err := decode(body, &br); err != nil {
		return h.undecodable(dst, "batch")
	}
	cmds := make([]batchCommand, len(br.Commands))
	for i, raw := range br.Commands {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			cmds[i].perr = protocol.ErrorBadRequest
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return h.undecodable(dst, "batch")
		}
		m, params := firstKnownCommand(fields)
		if m == MethodUnknown {
			cmds[i].perr = protocol.ErrorNotFound
			if h.obs != nil {
				h.obs.Error("unknown", protocol.ErrorNotFound.Code)
			}
			continue
		}
		req, err := decodeCommand(m, params)
		if err != nil {
			return h.undecodable(dst, "batch")
		}
		cmds[i] = batchCommand{method: m, req: req}
	}
	if len(cmds) == 0 {
		return Response{Status: 200, ContentType: "application/json", Body: append(dst, '{', '}')}
	}
	dst = append(dst, `{"replies":[`...)
	for i := range cmds {
		if i > 0 {
			dst = append(dst, ',')
		}
		cmd := &cmds[i]
		if cmd.perr == nil {
			mark := len(dst)
			dst = append(dst, '{', '"')
			dst = append(dst, cmd.method.String()...)
			dst = append(dst, '"', ':')
			var perr *protocol.Error
			if dst, perr = h.execute(dst, cmd.method, cmd.req); perr == nil {
				dst = append(dst, '}')
				continue
			}
			cmd.perr = perr
			dst = dst[:mark]
		}
		dst = append(dst, `{"error":`...)
		dst = appendError(dst, cmd.perr)
		dst = append(dst, '}')
	}
	dst = append(dst, ']', '}')
	return Response{Status: 200, ContentType: "application/json", Body: dst}
}

// firstKnownCommand picks the command of a batch element: the first method (in
// the protocol's field order, which is the table's) present with a non-null
// value.
func firstKnownCommand(fields map[string]json.RawMessage) (Method, []byte) {
	for i := range methods {
		if methods[i].decode == nil {
			continue // not a command: the legacy and batch envelopes
		}
		if p, ok := fields[methods[i].name]; ok && string(bytes.TrimSpace(p)) != "null" {
			return Method(i), p
		}
	}
	return MethodUnknown, nil
}

type legacyCommand struct {
	ID     uint32             `json:"id"`
	Method stdjson.RawMessage `json:"method"`
	Params stdjson.RawMessage `json:"params"`
}

// legacyMethod resolves a legacy "method": absent or null means publish; a
// name matches case-insensitively; a number is the protobuf method type.
func legacyMethod(raw stdjson.RawMessage) Method {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return MethodPublish
	}
	var name string
	if err := stdjson.Unmarshal(raw, &name); err == nil {
		m := MethodByName(bytes.ToLower([]byte(name)))
		if s := m.spec(); s == nil || s.decode == nil {
			return MethodUnknown // a batch cannot nest in the legacy stream
		}
		return m
	}
	var n int
	if err := stdjson.Unmarshal(raw, &n); err == nil && n >= 0 {
		return methodByLegacyNumber(n)
	}
	return MethodUnknown
}

// serveLegacy handles POST to the bare prefix: a stream of
// {"id"?,"method"?,"params"} objects (usually newline-delimited); replies are
// joined by '\n'. As Centrifugo's legacy handler: the stream must decode and
// every method must be known, or the whole request is 400; a command whose
// params do not decode gets a 107 error reply of its own. The rarely used
// legacy endpoint decodes with encoding/json, which is exactly Centrifugo's.
func (h *Handler) serveLegacy(dst []byte, body []byte) Response {
	dec := stdjson.NewDecoder(bytes.NewReader(body))
	type decoded struct {
		id     uint32
		method Method
		req    any
		perr   *protocol.Error
	}
	var cmds []decoded
	for {
		var lc legacyCommand
		err := dec.Decode(&lc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badRequest(dst)
		}
		m := legacyMethod(lc.Method)
		if m == MethodUnknown {
			return badRequest(dst)
		}
		params := []byte(lc.Params)
		if len(bytes.TrimSpace(params)) == 0 {
			params = []byte("{}")
		}
		req, err := decodeCommand(m, params)
		cmd := decoded{id: lc.ID, method: m, req: req}
		if err != nil {
			cmd.perr = protocol.ErrorBadRequest
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) == 0 {
		return badRequest(dst)
	}
	for i, cmd := range cmds {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, '{')
		if cmd.id != 0 {
			dst = append(dst, `"id":`...)
			dst = strconv.AppendUint(dst, uint64(cmd.id), 10)
			dst = append(dst, ',')
		}
		mark := len(dst)
		perr := cmd.perr
		if perr == nil {
			dst = append(dst, `"result":`...)
			dst, perr = h.execute(dst, cmd.method, cmd.req)
		}
		if perr != nil {
			dst = append(dst[:mark], `"error":`...)
			dst = appendError(dst, perr)
		}
		dst = append(dst, '}')
	}
	return Response{Status: 200, ContentType: "application/json", Body: dst}
}
