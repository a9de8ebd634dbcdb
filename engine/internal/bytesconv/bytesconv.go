// Package bytesconv holds the one unsafe conversion the engine needs: viewing a
// byte slice as a string without copying, for lookups (glob matching, map keys)
// on request bytes that live in a reused buffer. The name says it is unsafe; the
// caller promises the bytes do not change while the string is in use and that
// the string is not retained.
package bytesconv

import "unsafe"

// UnsafeString returns a string sharing b's memory. Do not retain it beyond the
// lifetime of b's current contents.
func UnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
