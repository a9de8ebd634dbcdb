// Package token signs the HS256 connection tokens unisse-bench's subscribers
// present (claims sub, channels, exp), as an application backend would for
// Centrifugo. Safe from any goroutine.
package token
