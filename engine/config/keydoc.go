package config

import (
	"encoding/json"
	"reflect"
	"time"
)

// KeyInfo describes one settable key, for documentation (docs/config.md is
// generated from Keys by engine/config/gendoc, which reads the description
// from the doc comment of the Go field Struct.Field).
type KeyInfo struct {
	Key     string // dotted key, e.g. "client.token.hmac_secret_key"; "[]" stands for a list index
	Env     string // environment variable after the UNISSE_/CENTRIFUGO_ prefix; "" when there is none
	Type    string // string, bool, int, duration, string list, or JSON list
	Default string // the default as JSON (durations in Go syntax, e.g. "25s")
	Struct  string // Go type that declares the field
	Field   string // Go field name
}

// Keys lists every key of Options in declaration order, then the options
// of each channel.namespaces entry ("channel.namespaces[].<option>").
func Keys() []KeyInfo {
	def := reflect.ValueOf(Default())
	var out []KeyInfo
	for _, l := range keys.leaves {
		out = append(out, keyInfo(l, "", l.env, reflect.TypeFor[Options](), def.FieldByIndex(l.index)))
	}
	nsT := reflect.TypeFor[Namespace]()
	nameField, _ := nsT.FieldByName("Name")
	out = append(out, KeyInfo{Key: "channel.namespaces[].name", Type: "string", Default: `""`, Struct: "Namespace", Field: nameField.Name})
	zero := reflect.ValueOf(ChannelOptions{})
	for _, l := range keys.nsLeaves {
		out = append(out, keyInfo(l, "channel.namespaces[].", "CHANNEL_NAMESPACES_<NAME>_"+l.env, reflect.TypeFor[ChannelOptions](), zero.FieldByIndex(l.index)))
	}
	return out
}

func keyInfo(l leaf, prefix, env string, root reflect.Type, dv reflect.Value) KeyInfo {
	t := root
	var f reflect.StructField
	for i, x := range l.index {
		f = t.Field(x)
		if i < len(l.index)-1 {
			t = f.Type
		}
	}
	ki := KeyInfo{Key: prefix + l.key, Env: env, Struct: t.Name(), Field: f.Name}
	switch l.kind {
	case kindString:
		ki.Type = "string"
	case kindBool:
		ki.Type = "bool"
	case kindInt, kindInt64, kindUint32:
		ki.Type = "int"
	case kindDuration:
		ki.Type = "duration"
	case kindStrings:
		ki.Type = "string list"
	case kindJSON:
		ki.Type = "JSON list"
	}
	var v any = dv.Interface()
	if l.kind == kindDuration {
		v = time.Duration(dv.Int()).String()
	}
	if (l.kind == kindJSON || l.kind == kindStrings) && dv.Len() == 0 {
		v = []any{}
	}
	b, _ := json.Marshal(v)
	ki.Default = string(b)
	return ki
}
