package cluster

import (
	"context"
	"fmt"
)

// Handler acts on the commands that reach connections. Its methods run on
// the broker's goroutine and must not block: queue the work to the event
// loops and return. They may keep what they are given.
//
// A command carrying a LabelFilter targets only connections whose labels
// match it; a handler without connection labels may ignore such commands.
// With an empty User and AllUsers set, a command targets every connection
// rather than the anonymous ones.
type Handler interface {
	SurveyHandler
	Disconnect(d *Disconnect)
	Unsubscribe(u *Unsubscribe)
	Subscribe(s *Subscribe)
	Refresh(r *Refresh)
}

// Dispatcher gives meaning to the bytes a broker delivers to
// Handler.HandleControl.
type Dispatcher struct {
	UID       string      // this node's; its own commands are ignored
	Nodes     *Registry   // hears Node and Shutdown
	Surveys   *Surveys    // hears SurveyResponse; nil drops them
	Announcer *Announcer  // when set, introduces this node to new nodes
	Handler   Handler     // connection commands and survey requests
	Publish   PublishFunc // sends this node's survey answers
}

// surveyReplyTimeout bounds the publish of a survey answer: the asking node
// stops waiting after its own timeout (10 s by default) anyway.
const surveyReplyTimeout = DefaultSurveyTimeout

// Dispatch decodes a control message and acts on it. It returns the decode
// error of a malformed message (to count or log; nothing was done) and nil
// otherwise, including for commands it ignores: its own, notifications,
// and kinds it does not know.
func (d *Dispatcher) Dispatch(data []byte) error {
	c, err := Decode(data)
	if err != nil {
		return fmt.Errorf("cluster: dispatch: %w", err)
	}
	if c.UID == d.UID {
		return nil
	}
	switch {
	case c.Node != nil:
		if d.Nodes.Add(c.Node) && d.Announcer != nil {
			d.Announcer.Introduce(c.Node.UID)
		}
	case c.Shutdown:
		d.Nodes.Remove(c.UID)
	case c.Unsubscribe != nil:
		d.Handler.Unsubscribe(c.Unsubscribe)
	case c.Subscribe != nil:
		d.Handler.Subscribe(c.Subscribe)
	case c.Disconnect != nil:
		d.Handler.Disconnect(c.Disconnect)
	case c.SurveyRequest != nil:
		d.answerSurvey(c.UID, c.SurveyRequest)
	case c.SurveyResponse != nil:
		if d.Surveys != nil {
			d.Surveys.answer(c.UID, c.SurveyResponse)
		}
	case c.Notification != nil:
		// Centrifugo notifies usage statistics; nothing here uses them.
	case c.Refresh != nil:
		d.Handler.Refresh(c.Refresh)
	}
	return nil
}

func (d *Dispatcher) answerSurvey(from string, r *SurveyRequest) {
	d.Handler.Survey(r.Op, r.Data, func(code uint32, data []byte) {
		resp := Encode(&Command{UID: d.UID, SurveyResponse: &SurveyResponse{ID: r.ID, Code: code, Data: data}})
		ctx, cancel := context.WithTimeout(context.Background(), surveyReplyTimeout)
		d.Publish(ctx, resp, from, func(error) { cancel() })
	})
}
