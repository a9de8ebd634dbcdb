package recovery

import (
	"bytes"
	"fmt"
)

// Expect is the recovery a connect push must show.
type Expect struct {
	Channel string `json:"channel"`
	// Epoch the result must report; "" skips the check.
	Epoch string `json:"epoch"`
	// From is the offset recovered from: the push must carry the
	// publications From+1 … From+Count, in order.
	From  uint64 `json:"from"`
	Count int    `json:"count"`
}

// HeadSize is how many of the first bytes of the line a Checker keeps (Head).
const HeadSize = 64

// maxDepth bounds the JSON nesting the Checker follows; deeper is malformed
// for its purpose.
const maxDepth = 32

// Verdict is what a Checker found in one connect push.
type Verdict struct {
	Connect   bool   `json:"connect"`   // a {"connect":{…}} object
	Valid     bool   `json:"valid"`     // complete, well-formed JSON
	Sub       bool   `json:"sub"`       // has a subscribe result for the channel
	Recovered bool   `json:"recovered"` // "recovered":true in it
	EpochOK   bool   `json:"epoch_ok"`  // its "epoch" is Expect.Epoch (or that is "")
	Pubs      int    `json:"pubs"`      // its publications
	First     uint64 `json:"first"`     // offset of the first publication
	Last      uint64 `json:"last"`      // offset of the last one
	// Gaps counts publications whose offset is missing or does not follow
	// the previous one's.
	Gaps  int   `json:"gaps"`
	Bytes int64 `json:"bytes"` // bytes of the line fed
}

// Problem says what keeps v from being the recovery e asks for; "" when
// nothing does. Its values are few and stable, fit to count by.
func (v *Verdict) Problem(e *Expect) string {
	switch {
	case !v.Connect:
		return "not a connect push"
	case !v.Valid:
		return "malformed connect push"
	case !v.Sub:
		return "no subscribe result for the channel"
	case !v.Recovered:
		return "not recovered"
	case !v.EpochOK:
		return "other epoch"
	case v.Pubs != e.Count:
		return fmt.Sprintf("%d publications, want %d", v.Pubs, e.Count)
	case v.Gaps > 0:
		return "publication offsets not consecutive"
	case v.Pubs > 0 && v.First != e.From+1:
		return fmt.Sprintf("first offset %d, want %d", v.First, e.From+1)
	}
	return ""
}

type state uint8

const (
	sValue        state = iota // a value
	sValueOrClose              // after '[': a value or ']'
	sKeyOrClose                // after '{': a key or '}'
	sKey                       // after ',' in an object: a key
	sKeyStr                    // in a key
	sKeyEsc                    // after a backslash in a key
	sColon                     // after a key
	sStr                       // in a string value
	sStrEsc                    // after a backslash in a string value
	sNumber                    // in a number
	sLiteral                   // in true, false or null
	sAfter                     // after a value: ',' or a closer
	sDone                      // the top-level value is complete
	sError                     // malformed: the rest is ignored
)

// role is what a container on the path is.
type role uint8

const (
	rOther   role = iota
	rTop          // the event object
	rConnect      // its "connect"
	rSubs         // connect's "subs"
	rSub          // subs' entry for the channel
	rPubs         // the entry's "publications"
	rPub          // one publication
)

// pending is what the value being read is for.
type pending uint8

const (
	pNone pending = iota
	pTop
	pConnect
	pSubs
	pSub
	pPubs
	pPub
	pRecovered
	pEpoch
	pOffset
)

// Checker checks one connect push at a time. The zero value is not ready:
// call Reset first.
type Checker struct {
	exp   *Expect
	st    state
	pend  pending
	depth int
	roles [maxDepth]role
	array [maxDepth]bool

	key     [256]byte // the key being read, when its object matters
	keyLen  int
	keyLong bool

	epoch    [64]byte // the result's epoch: longer than this is another one
	epochLen int

	lit    string // the literal being read
	litPos int
	num    uint64
	numBad bool

	pubOff  uint64
	pubHas  bool
	pubSeen bool // a publication with an offset was accounted

	head    [HeadSize]byte
	headLen int
	v       Verdict
}

// Reset prepares c for a new push checked against e, which must not change
// until Finish.
func (c *Checker) Reset(e *Expect) {
	c.exp = e
	c.st, c.pend, c.depth = sValue, pTop, 0
	c.keyLen, c.keyLong, c.epochLen = 0, false, 0
	c.lit, c.litPos, c.num, c.numBad = "", 0, 0, false
	c.pubOff, c.pubHas, c.pubSeen = 0, false, false
	c.headLen = 0
	c.v = Verdict{}
}

// Head is the first HeadSize bytes of the line (fewer if shorter): enough
// to tell a connect push from a disconnect push (package payload).
func (c *Checker) Head() []byte { return c.head[:c.headLen] }

// Finish returns the verdict on everything written since Reset.
func (c *Checker) Finish() Verdict {
	v := c.v
	v.Valid = c.st == sDone
	v.EpochOK = c.exp.Epoch == "" || string(c.epoch[:c.epochLen]) == c.exp.Epoch
	return v
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\r' || b == '\t' }

// Write feeds the next piece of the line.
func (c *Checker) Write(b []byte) {
	c.v.Bytes += int64(len(b))
	if c.headLen < HeadSize {
		c.headLen += copy(c.head[c.headLen:], b)
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch c.st {
		case sStr, sKeyStr:
			// Most bytes are inside strings (the payloads): skip to the
			// next quote or backslash at once.
			rest := b[i:]
			j := bytes.IndexByte(rest, '"')
			if j < 0 {
				j = len(rest)
			}
			if k := bytes.IndexByte(rest[:j], '\\'); k >= 0 {
				j = k
			}
			c.strBytes(rest[:j])
			i += j
			if i == len(b) {
				return
			}
			if b[i] == '\\' {
				c.strBytes(b[i : i+1])
				if c.st == sStr {
					c.st = sStrEsc
				} else {
					c.st = sKeyEsc
				}
				continue
			}
			if c.st == sKeyStr {
				c.st = sColon
			} else {
				c.endString()
			}
		case sStrEsc, sKeyEsc:
			// The escaped byte (a \uXXXX's hex digits are plain bytes).
			c.strBytes(b[i : i+1])
			if c.st == sStrEsc {
				c.st = sStr
			} else {
				c.st = sKeyStr
			}
		case sValue, sValueOrClose:
			switch {
			case isSpace(ch):
			case ch == ']' && c.st == sValueOrClose:
				c.close(ch)
			case ch == '{' || ch == '[':
				c.open(ch == '[')
			case ch == '"':
				c.st = sStr
				if c.pend == pEpoch {
					c.epochLen = 0
				}
			case ch == '-' || ch >= '0' && ch <= '9':
				c.st, c.num, c.numBad = sNumber, 0, false
				i--
			case ch == 't':
				c.st, c.lit, c.litPos = sLiteral, "true", 0
				i--
			case ch == 'f':
				c.st, c.lit, c.litPos = sLiteral, "false", 0
				i--
			case ch == 'n':
				c.st, c.lit, c.litPos = sLiteral, "null", 0
				i--
			default:
				c.st = sError
			}
		case sKeyOrClose, sKey:
			switch {
			case isSpace(ch):
			case ch == '"':
				c.st, c.keyLen, c.keyLong = sKeyStr, 0, false
			case ch == '}' && c.st == sKeyOrClose:
				c.close(ch)
			default:
				c.st = sError
			}
		case sColon:
			switch {
			case isSpace(ch):
			case ch == ':':
				c.pend = c.keyPending()
				c.st = sValue
			default:
				c.st = sError
			}
		case sNumber:
			switch {
			case ch >= '0' && ch <= '9':
				c.num = c.num*10 + uint64(ch-'0')
			case ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E':
				c.numBad = true // not an offset
			default:
				c.endNumber()
				i-- // the byte after the number
			}
		case sLiteral:
			if c.litPos < len(c.lit) {
				if ch != c.lit[c.litPos] {
					c.st = sError
					continue
				}
				c.litPos++
				continue
			}
			c.endLiteral()
			i--
		case sAfter:
			switch {
			case isSpace(ch):
			case ch == ',':
				top := c.depth - 1
				if c.array[top] {
					c.st, c.pend = sValue, pNone
					if c.roles[top] == rPubs {
						c.pend = pPub
					}
				} else {
					c.st = sKey
				}
			case ch == '}' || ch == ']':
				c.close(ch)
			default:
				c.st = sError
			}
		case sDone, sError:
			return
		}
	}
}

// strBytes takes bytes of the string being read: a key of an object that
// matters, or the epoch.
func (c *Checker) strBytes(b []byte) {
	if c.st == sKeyStr || c.st == sKeyEsc {
		if c.depth == 0 || c.roles[c.depth-1] == rOther {
			return
		}
		n := copy(c.key[c.keyLen:], b)
		c.keyLen += n
		c.keyLong = c.keyLong || n < len(b)
		return
	}
	if c.pend == pEpoch {
		c.epochLen += copy(c.epoch[c.epochLen:], b)
	}
}

// keyPending is what the value of the key just read is for.
func (c *Checker) keyPending() pending {
	if c.keyLong {
		return pNone
	}
	k := c.key[:c.keyLen]
	switch c.roles[c.depth-1] {
	case rTop:
		if string(k) == "connect" {
			return pConnect
		}
	case rConnect:
		if string(k) == "subs" {
			return pSubs
		}
	case rSubs:
		if string(k) == c.exp.Channel {
			return pSub
		}
	case rSub:
		switch string(k) {
		case "recovered":
			return pRecovered
		case "epoch":
			return pEpoch
		case "publications":
			return pPubs
		}
	case rPub:
		if string(k) == "offset" {
			return pOffset
		}
	}
	return pNone
}

// open starts an object or array.
func (c *Checker) open(array bool) {
	if c.depth == maxDepth {
		c.st = sError
		return
	}
	r := rOther
	switch {
	case array && c.pend == pPubs:
		r = rPubs
	case array:
	case c.pend == pTop:
		r = rTop
	case c.pend == pConnect:
		r, c.v.Connect = rConnect, true
	case c.pend == pSubs:
		r = rSubs
	case c.pend == pSub:
		r, c.v.Sub = rSub, true
	case c.pend == pPub:
		r, c.pubHas = rPub, false
	}
	c.roles[c.depth], c.array[c.depth] = r, array
	c.depth++
	c.pend = pNone
	if array {
		c.st = sValueOrClose
		if r == rPubs {
			c.pend = pPub
		}
	} else {
		c.st = sKeyOrClose
	}
}

// close ends the innermost container with ch ('}' or ']').
func (c *Checker) close(ch byte) {
	if c.depth == 0 || c.array[c.depth-1] != (ch == ']') {
		c.st = sError
		return
	}
	c.depth--
	if c.roles[c.depth] == rPub {
		c.pubDone()
	}
	c.afterValue()
}

func (c *Checker) afterValue() {
	c.pend = pNone
	if c.depth == 0 {
		c.st = sDone
		return
	}
	c.st = sAfter
}

func (c *Checker) endString() { c.afterValue() }

func (c *Checker) endNumber() {
	if c.pend == pOffset && !c.numBad {
		c.pubOff, c.pubHas = c.num, true
	}
	c.afterValue()
}

func (c *Checker) endLiteral() {
	if c.pend == pRecovered && c.lit == "true" {
		c.v.Recovered = true
	}
	c.afterValue()
}

// pubDone accounts the publication just closed.
func (c *Checker) pubDone() {
	v := &c.v
	v.Pubs++
	switch {
	case !c.pubHas:
		v.Gaps++
	case !c.pubSeen:
		v.First = c.pubOff
	case c.pubOff != v.Last+1:
		v.Gaps++
	}
	if c.pubHas {
		v.Last, c.pubSeen = c.pubOff, true
	}
}
