package broker

import (
	"errors"
	"time"
)

// Publication is what a broker carries for one channel.
type Publication struct {
	Data   []byte            // raw JSON (or raw bytes when NotJSON)
	Tags   map[string]string // optional
	Info   []byte            // raw ClientInfo JSON of a client-side publisher; nil from the API
	Offset uint64            // position in the channel's history stream; 0 without history
	// NotJSON marks data that is not a JSON document (from b64data); JSON
	// clients cannot receive it.
	NotJSON bool
}

// StreamPosition is a place in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// PublishOptions are the per-publication settings.
type PublishOptions struct {
	// HistorySize and HistoryTTL enable history for the channel when both > 0.
	HistorySize int
	HistoryTTL  time.Duration
	// HistoryMetaTTL bounds how long a stream's epoch and offset survive after
	// its last publication (0: broker default).
	HistoryMetaTTL time.Duration
	// IdempotencyKey suppresses a repeat of the same publication within
	// IdempotentResultTTL (0: 5 minutes, Centrifugo's default).
	IdempotencyKey      string
	IdempotentResultTTL time.Duration
	// SkipHistory delivers without appending to history.
	SkipHistory bool
}

// HistoryFilter selects publications from a history stream.
type HistoryFilter struct {
	// Since, when set, selects publications after Since.Offset; its Epoch, if
	// not empty, must be the stream's (else ErrUnrecoverablePosition).
	Since *StreamPosition
	// Limit caps the number of publications: 0 returns none (position only),
	// a negative value all of them.
	Limit int
	// Reverse returns the newest first.
	Reverse bool
}

// HistoryResult is a stream's position and selected publications.
type HistoryResult struct {
	StreamPosition
	Publications []Publication
}

// ErrUnrecoverablePosition means a position from another epoch of the stream
// (the stream was lost and restarted since).
var ErrUnrecoverablePosition = errors.New("broker: unrecoverable position")

// Handler receives the publications to deliver to this node's subscribers.
type Handler interface {
	// HandlePublication is called once per accepted publication. pub and its
	// slices must not be modified or retained after the call returns.
	HandlePublication(channel string, pub *Publication, sp StreamPosition)
}

// Broker accepts publications and delivers them to Handler.
type Broker interface {
	// Run attaches the handler; call it once before the first Publish.
	Run(h Handler) error
	// Publish accepts a publication for channel and returns its stream
	// position (zero without history). A publication suppressed by its
	// idempotency key returns the first one's position and is not delivered.
	Publish(channel string, pub *Publication, opts PublishOptions) (StreamPosition, error)
	// WithPosition calls fn with the current position of channel's history
	// stream (offset 0 of the epoch that the channel's first publication will
	// continue, if it has no stream),
	// atomically with respect to publications of the channel: a publication
	// is either included in the position or delivered after fn returns. The
	// engine subscribes a connection inside fn, so a positioned subscriber
	// never misses nor duplicates an offset. fn must not call the broker.
	WithPosition(channel string, opts PublishOptions, fn func(StreamPosition)) error
	// WithHistory is WithPosition that also reads the channel's history: fn
	// gets the position and the publications selected by filter, atomically
	// with respect to publications of the channel (used for recovery at
	// connect: missed publications from history, the rest live, no gap and
	// no duplicate). fn gets ErrUnrecoverablePosition when filter.Since names
	// another epoch. fn must not call the broker.
	WithHistory(channel string, opts PublishOptions, filter HistoryFilter, fn func(HistoryResult, error)) error
	// History returns publications of channel's history (see HistoryFilter);
	// a channel without a stream reads as WithPosition describes.
	History(channel string, opts PublishOptions, filter HistoryFilter) (HistoryResult, error)
	// RemoveHistory drops channel's publications; its epoch and offset stay.
	RemoveHistory(channel string) error
	// Close releases the broker's resources.
	Close() error
}
