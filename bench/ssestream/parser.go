package ssestream

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxLine caps the bytes kept of a line that is split across reads.
const MaxLine = 512

// Errors returned by Feed.
var (
	// ErrEnd: the server ended the response (chunked terminator, or the
	// end of a Content-Length body).
	ErrEnd = errors.New("ssestream: end of stream")
	// ErrStatus: the response status is not 200; see Parser.Status.
	ErrStatus = errors.New("ssestream: response status is not 200")
	// ErrFraming: the bytes are not a valid HTTP/1.1 response or chunked body.
	ErrFraming = errors.New("ssestream: bad framing")
)

// Handler receives events. data is valid only during the call.
type Handler interface {
	OnEvent(data []byte, truncated bool)
}

// PieceHandler also takes data lines in pieces, whatever their length: see
// Parser.SetPieces.
type PieceHandler interface {
	Handler
	// OnPiece receives the next piece of a `data:` line's value (after
	// "data:" and one optional space), as it arrives; last is true on the
	// line's final piece, which may be empty; the line's end (LF or CRLF)
	// is not included. data is valid only during the call.
	OnPiece(data []byte, last bool)
}

// Where pieces mode is in a line.
const (
	pieceStart uint8 = iota // matching "data:" at the start of a line
	pieceData               // in a data line's value
	pieceSkip               // in another line
)

type state uint8

const (
	stStatus state = iota
	stHeader
	stSize
	stSizeExt
	stSizeLF
	stData
	stDataCR
	stDataLF
	stTrailer
	stRaw // body without chunking: until the connection closes
	stDone
)

// Parser is the incremental parser of one response. The zero value expects
// the status line.
type Parser struct {
	st        state
	chunked   bool
	truncated bool // the line being gathered went past MaxLine
	sawDigit  bool
	status    int16
	left      int64 // bytes left in the current chunk or Content-Length body
	hasLength bool
	pieces    bool   // data lines go to OnPiece (SetPieces)
	pst       uint8  // pieces mode: pieceStart, pieceData or pieceSkip
	pre       uint8  // pieces mode: bytes of "data:" matched at the line start
	cr        bool   // pieces mode: a CR that ended a read was held back
	line      []byte // a line split across reads; cap MaxLine once allocated
}

// Status is the response status code once the status line is read, else 0.
func (p *Parser) Status() int { return int(p.status) }

// Streaming reports whether the headers are done and the body is being read.
func (p *Parser) Streaming() bool { return p.st >= stSize && p.st < stDone }

// Reset prepares p for a new response, keeping its line buffer. Pieces
// mode is off.
func (p *Parser) Reset() { *p = Parser{line: p.line[:0]} }

// SetPieces turns pieces mode on or off. On, the value of every `data:` line
// goes to the handler's OnPiece as it arrives, however long, instead of to
// OnEvent when the line ends (so that nothing is truncated to MaxLine); the
// handler passed to Feed must then be a PieceHandler (another is served
// whole lines as usual). Call it between lines only: before the first Feed,
// or from OnEvent or a last OnPiece, which switches from the next line on.
func (p *Parser) SetPieces(on bool) {
	p.pieces, p.pst, p.pre, p.cr = on, pieceStart, 0, false
}

// Feed parses b, calling h for each complete `data:` line. It returns nil
// when b is consumed and more is expected, ErrEnd when the response ended
// (bytes after the end are ignored), ErrStatus after the headers of a non-200
// response, or an error wrapping ErrFraming.
func (p *Parser) Feed(b []byte, h Handler) error {
	for len(b) > 0 {
		switch p.st {
		case stStatus, stHeader, stTrailer:
			line, rest, ok := p.takeLine(b)
			b = rest
			if !ok {
				return nil
			}
			if err := p.headLine(line); err != nil {
				return err
			}
		case stSize:
			c := b[0]
			b = b[1:]
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
				if p.left > 1<<40 {
					return fmt.Errorf("%w: chunk size too large", ErrFraming)
				}
				p.left = p.left<<4 | int64(unhex(c))
				p.sawDigit = true
			case c == ';' || c == ' ' || c == '\t':
				p.st = stSizeExt
			case c == '\r':
				p.st = stSizeLF
			case c == '\n':
				if err := p.sizeDone(); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: byte %q in chunk size", ErrFraming, c)
			}
		case stSizeExt:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil
			}
			b = b[i+1:]
			if err := p.sizeDone(); err != nil {
				return err
			}
		case stSizeLF:
			if b[0] != '\n' {
				return fmt.Errorf("%w: CR without LF after chunk size", ErrFraming)
			}
			b = b[1:]
			if err := p.sizeDone(); err != nil {
				return err
			}
		case stData:
			if b = p.bodyLeft(b, h); p.left == 0 {
				p.st = stDataCR
			}
		case stDataCR:
			switch b[0] {
			case '\r':
				p.st = stDataLF
			case '\n':
				p.st = stSize
			default:
				return fmt.Errorf("%w: chunk not followed by CRLF", ErrFraming)
			}
			b = b[1:]
		case stDataLF:
			if b[0] != '\n' {
				return fmt.Errorf("%w: chunk not followed by CRLF", ErrFraming)
			}
			b = b[1:]
			p.st = stSize
		case stRaw:
			if p.hasLength {
				if b = p.bodyLeft(b, h); p.left == 0 {
					p.st = stDone
					return ErrEnd
				}
				continue
			}
			p.body(b, h)
			return nil
		case stDone:
			return ErrEnd
		}
	}
	return nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// sizeDone ends a chunk-size line.
func (p *Parser) sizeDone() error {
	if !p.sawDigit {
		return fmt.Errorf("%w: empty chunk size", ErrFraming)
	}
	p.sawDigit = false
	if p.left == 0 {
		p.st = stTrailer
		return nil
	}
	p.st = stData
	return nil
}

// takeLine returns the next whole line (without its LF, and without a CR
// before it) from b and the bytes after it; ok is false when b ends first
// (its bytes are kept in p.line).
func (p *Parser) takeLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		p.keep(b)
		return nil, nil, false
	}
	if len(p.line) == 0 && !p.truncated {
		line = b[:i]
	} else {
		p.keep(b[:i])
		line = p.line
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, b[i+1:], true
}

// keep appends b to the split-line buffer, up to MaxLine bytes.
func (p *Parser) keep(b []byte) {
	if p.line == nil {
		p.line = make([]byte, 0, MaxLine)
	}
	room := MaxLine - len(p.line)
	if len(b) > room {
		b = b[:room]
		p.truncated = true
	}
	p.line = append(p.line, b...)
}

func (p *Parser) lineDone() {
	p.line = p.line[:0]
	p.truncated = false
}

var (
	http11           = []byte("HTTP/1.")
	transferEncoding = []byte("transfer-encoding")
	contentLength    = []byte("content-length")
	chunkedToken     = []byte("chunked")
)

// headLine handles a status, header or trailer line.
func (p *Parser) headLine(line []byte) error {
	defer p.lineDone()
	switch p.st {
	case stStatus:
		// HTTP/1.1 200 OK
		if len(line) < 12 || !bytes.HasPrefix(line, http11) || line[8] != ' ' {
			return fmt.Errorf("%w: status line %q", ErrFraming, line)
		}
		code := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return fmt.Errorf("%w: status line %q", ErrFraming, line)
			}
			code = code*10 + int(c-'0')
		}
		p.status = int16(code)
		p.st = stHeader
	case stHeader:
		if len(line) == 0 {
			if p.status != 200 {
				p.st = stDone
				return ErrStatus
			}
			switch {
			case p.chunked:
				p.st = stSize
			case p.hasLength && p.left == 0:
				p.st = stDone
				return ErrEnd
			default:
				p.st = stRaw
			}
			return nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("%w: header line %q", ErrFraming, line)
		}
		switch {
		case bytes.EqualFold(name, transferEncoding):
			p.chunked = containsFold(value, chunkedToken)
		case bytes.EqualFold(name, contentLength):
			var n int64
			for _, c := range bytes.TrimSpace(value) {
				if c < '0' || c > '9' || n > 1<<40 {
					return fmt.Errorf("%w: content-length %q", ErrFraming, value)
				}
				n = n*10 + int64(c-'0')
			}
			p.left, p.hasLength = n, true
		}
	case stTrailer:
		if len(line) == 0 {
			p.st = stDone
			return ErrEnd
		}
	}
	return nil
}

func containsFold(s, sub []byte) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

var dataField = []byte("data:")

// bodyLeft feeds up to p.left bytes of b (the rest of a chunk, or of a
// Content-Length body) to body and returns what follows them.
func (p *Parser) bodyLeft(b []byte, h Handler) []byte {
	n := min(int64(len(b)), p.left)
	p.body(b[:n], h)
	p.left -= n
	return b[n:]
}

// body feeds event-stream bytes.
func (p *Parser) body(b []byte, h Handler) {
	for len(b) > 0 {
		if p.pieces {
			if ph, ok := h.(PieceHandler); ok {
				b = p.piece(b, ph)
				continue
			}
		}
		line, rest, ok := p.takeLine(b)
		b = rest
		if !ok {
			return
		}
		if bytes.HasPrefix(line, dataField) {
			data := line[len(dataField):]
			if len(data) > 0 && data[0] == ' ' {
				data = data[1:]
			}
			h.OnEvent(data, p.truncated)
		}
		p.lineDone()
	}
}

// piece consumes event-stream bytes in pieces mode, up to the end of the
// current line at most, and returns the rest.
func (p *Parser) piece(b []byte, h PieceHandler) []byte {
	switch p.pst {
	case pieceStart:
		for len(b) > 0 {
			c := b[0]
			if int(p.pre) == len(dataField) {
				if c == ' ' {
					b = b[1:]
				}
				p.pst = pieceData
				return b
			}
			b = b[1:]
			switch {
			case c == dataField[p.pre]:
				p.pre++
			case c == '\n':
				p.pre = 0 // a short line: the next one starts
			default:
				p.pst = pieceSkip
				return b
			}
		}
		return b
	case pieceSkip:
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		p.pst, p.pre = pieceStart, 0
		return b[i+1:]
	default: // pieceData
		i := bytes.IndexByte(b, '\n')
		if i != 0 && p.cr {
			h.OnPiece(cr, false) // the CR held back was not the line's end
		}
		p.cr = false
		if i < 0 {
			// A CR at the end of the read may be the line's end: hold it.
			if b[len(b)-1] == '\r' {
				b, p.cr = b[:len(b)-1], true
			}
			if len(b) > 0 {
				h.OnPiece(b, false)
			}
			return nil
		}
		data := b[:i]
		if i > 0 && data[i-1] == '\r' {
			data = data[:i-1]
		}
		// Before the call: OnPiece may switch pieces mode off.
		p.pst, p.pre = pieceStart, 0
		h.OnPiece(data, true)
		return b[i+1:]
	}
}

var cr = []byte{'\r'}
