// Package namespace resolves a channel name to the options of its namespace,
// following Centrifugo's naming rules: an optional private prefix ("$"), then
// "<namespace><boundary><rest>" selects channel.namespaces[name], and a channel
// without the boundary uses channel.without_namespace. Lookup is read-only and
// safe from any goroutine.
package namespace
