package engine

// WithShutdownMinRate lowers the slowest pace of a spread shutdown (streams
// per second), so that a test can spread a few hundred streams over a window
// long enough to observe.
func WithShutdownMinRate(perSecond int) Option {
	return func(s *Server) { s.spreadMinRate = perSecond }
}
