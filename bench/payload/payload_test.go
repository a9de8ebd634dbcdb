package payload

import (
	"encoding/json"
	"testing"
)

func TestAppendIsValidJSONOfTheRequestedSize(t *testing.T) {
	for _, size := range []int{0, 10, MinSize, 100, 1000} {
		b := Append(nil, 3, 4294967295, 1700000000123456789, size)
		var v struct {
			S uint32 `json:"s"`
			W uint16 `json:"w"`
			T int64  `json:"t"`
			P string `json:"p"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("size %d: %s: %v", size, b, err)
		}
		if v.S != 4294967295 || v.W != 3 || v.T != 1700000000123456789 {
			t.Fatalf("size %d: decoded %+v", size, v)
		}
		if size >= MinSize && len(b) != size {
			t.Fatalf("size %d: payload is %d bytes", size, len(b))
		}
	}
}

func TestParse(t *testing.T) {
	pub := `{"channel":"bench","pub":{"data":` + string(Append(nil, 2, 17, 1700000000000000001, 100)) + `}}`
	for _, tc := range []struct {
		in   string
		want Event
	}{
		{pub, Event{Kind: Pub, W: 2, Seq: 17, SentNs: 1700000000000000001}},
		{pub[:len(`{"channel":"bench","pub":{"data":{"s":17,"w":2,"t":1700000000000000001,`)], Event{Kind: Pub, W: 2, Seq: 17, SentNs: 1700000000000000001}},
		{pub[:len(`{"channel":"bench","pub":{"data":{"s":17,"w":2,"t":17000`)], Event{}}, // cut inside t
		{`{}`, Event{Kind: Ping}},
		{`{"connect":{"client":"x"}}`, Event{Kind: Connect}},
		{`{"disconnect":{"code":3008,"reason":"slow"}}`, Event{Kind: Disconnect, Code: 3008}},
		{`{"channel":"x","pub":{"data":{"text":"hi"}}}`, Event{}},
		{`{"channel":"x","join":{"info":{}}}`, Event{}},
	} {
		if got := Parse([]byte(tc.in)); got != tc.want {
			t.Errorf("Parse(%s) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
