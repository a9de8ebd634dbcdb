package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Survey reply codes, as Centrifugo's survey package sends them (0 is
// success).
const (
	SurveyInternalError  uint32 = 1
	SurveyInvalidRequest uint32 = 2
	SurveyMethodNotFound uint32 = 3
)

// DefaultSurveyTimeout bounds a survey whose context has no deadline, as
// centrifuge's.
const DefaultSurveyTimeout = 10 * time.Second

// SurveyResult is one node's answer.
type SurveyResult struct {
	Code uint32
	Data []byte
}

// SurveyHandler answers a survey op. It must not block: reply may be
// called later, once, from any goroutine. An op it does not know is answered
// with SurveyMethodNotFound (a node that never replies makes every survey
// across the cluster wait for its timeout).
type SurveyHandler interface {
	Survey(op string, data []byte, reply func(code uint32, data []byte))
}

// Surveys sends survey requests to every node and collects their answers.
// It is safe for concurrent use.
type Surveys struct {
	self    string
	nodes   *Registry
	publish PublishFunc
	local   SurveyHandler

	mu      sync.Mutex
	lastID  uint64
	pending map[uint64]chan surveyAnswer
}

type surveyAnswer struct {
	node   string
	result SurveyResult
}

// NewSurveys returns a correlator for the node whose UID is self; nodes
// says how many answers to wait for (the live nodes plus this one), local
// answers for this node (a control channel does not deliver a node's own
// commands to it).
func NewSurveys(self string, nodes *Registry, publish PublishFunc, local SurveyHandler) *Surveys {
	return &Surveys{
		self:    self,
		nodes:   nodes,
		publish: publish,
		local:   local,
		pending: make(map[uint64]chan surveyAnswer),
	}
}

// ErrSurveyIncomplete is returned, wrapping the context's error, when some
// nodes did not answer in time.
var ErrSurveyIncomplete = errors.New("cluster: survey incomplete")

// Ask sends op with data to every node and waits for as many answers as
// there are live nodes (this one included), or until ctx ends
// (DefaultSurveyTimeout when ctx has no deadline). It returns the answers
// keyed by node UID; when some are missing the error wraps
// ErrSurveyIncomplete and ctx's error, and the map holds those that came
// (Centrifugo fails the API call then; the caller chooses). A publish
// failure is returned as is.
func (s *Surveys) Ask(ctx context.Context, op string, data []byte) (map[string]SurveyResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSurveyTimeout)
		defer cancel()
	}
	want := s.nodes.Len() + 1
	// Room for every expected answer and a few from nodes that joined
	// meanwhile: deliveries never block, surplus ones are dropped.
	answers := make(chan surveyAnswer, want+4)

	s.mu.Lock()
	s.lastID++
	id := s.lastID
	s.pending[id] = answers
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()

	s.local.Survey(op, data, func(code uint32, data []byte) {
		deliver(answers, surveyAnswer{node: s.self, result: SurveyResult{Code: code, Data: data}})
	})

	published := make(chan error, 1)
	if want > 1 {
		req := Encode(&Command{UID: s.self, SurveyRequest: &SurveyRequest{ID: id, Op: op, Data: data}})
		s.publish(ctx, req, "", func(err error) { published <- err })
	}

	results := make(map[string]SurveyResult, want)
	for len(results) < want {
		select {
		case a := <-answers:
			results[a.node] = a.result
		case err := <-published:
			if err != nil {
				return nil, fmt.Errorf("cluster: publish survey %q: %w", op, err)
			}
		case <-ctx.Done():
			return results, fmt.Errorf("%w: %d of %d nodes answered %q: %w", ErrSurveyIncomplete, len(results), want, op, ctx.Err())
		}
	}
	return results, nil
}

// answer hands a node's response to the survey waiting for it; a response
// to a survey that ended is dropped.
func (s *Surveys) answer(from string, r *SurveyResponse) {
	s.mu.Lock()
	answers, ok := s.pending[r.ID]
	s.mu.Unlock()
	if ok {
		deliver(answers, surveyAnswer{node: from, result: SurveyResult{Code: r.Code, Data: r.Data}})
	}
}

func deliver(answers chan surveyAnswer, a surveyAnswer) {
	select {
	case answers <- a:
	default:
	}
}
