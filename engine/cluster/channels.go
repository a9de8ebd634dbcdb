package cluster

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ChannelsOp is the survey op behind Centrifugo's /api/channels. Its
// request is apiproto.ChannelsRequest {string pattern = 1} and its answer
// apiproto.ChannelsResult {map<string, ChannelInfo> channels = 1}, with
// ChannelInfo {uint32 num_clients = 1}, both protobuf-encoded.
const ChannelsOp = "channels"

// EncodeChannelsRequest returns the survey data asking for the channels
// matching pattern ("" = all; a gobwas/glob pattern, as Centrifugo's).
func EncodeChannelsRequest(pattern string) []byte {
	return appendString(nil, 1, pattern)
}

// DecodeChannelsRequest returns the pattern of a channels survey.
func DecodeChannelsRequest(data []byte) (pattern string, err error) {
	err = eachField(data, func(f *field) error {
		if f.num == 1 {
			return f.str(&pattern)
		}
		return nil
	})
	return pattern, err
}

// AppendChannel appends one channel to a ChannelsResult being built in dst
// (an empty result is no bytes at all).
func AppendChannel(dst []byte, channel string, numClients uint32) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.BytesType)
	e = protowire.AppendString(e, channel)
	e = appendMessage(e, 2, appendUint(nil, 1, uint64(numClients)))
	return appendMessage(dst, 1, e)
}

// DecodeChannelsResult returns the channels of one node's answer.
func DecodeChannelsResult(data []byte) (map[string]uint32, error) {
	channels := make(map[string]uint32)
	err := eachField(data, func(f *field) error {
		if f.num != 1 {
			return nil
		}
		var ch string
		var n uint32
		err := f.message(func(f *field) error {
			switch f.num {
			case 1:
				return f.str(&ch)
			case 2:
				return f.message(func(f *field) error {
					if f.num == 1 {
						return f.uint32(&n)
					}
					return nil
				})
			}
			return nil
		})
		if err != nil {
			return err
		}
		channels[ch] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return channels, nil
}

// AnswerChannels answers a channels survey the way Centrifugo does: it
// decodes the request, asks list for the channels with subscribers that
// match the pattern, and returns the reply's code and data. list returns an
// error for a pattern it cannot compile, answered with
// SurveyInvalidRequest as Centrifugo does.
func AnswerChannels(data []byte, list func(pattern string, fn func(channel string, numClients int)) error) (code uint32, result []byte) {
	pattern, err := DecodeChannelsRequest(data)
	if err != nil {
		return SurveyInvalidRequest, nil
	}
	err = list(pattern, func(channel string, numClients int) {
		if numClients > 0 {
			result = AppendChannel(result, channel, clampUint32(numClients))
		}
	})
	if err != nil {
		return SurveyInvalidRequest, nil
	}
	return 0, result
}

// SurveyChannels runs /api/channels across the cluster: it asks every node
// for its channels matching pattern and sums their subscriber counts. As in
// Centrifugo, any node answering with a non-zero code, an answer that does
// not decode, or a node that does not answer in time fails the whole call.
func SurveyChannels(ctx context.Context, s *Surveys, pattern string) (map[string]uint32, error) {
	results, err := s.Ask(ctx, ChannelsOp, EncodeChannelsRequest(pattern))
	if err != nil {
		return nil, err
	}
	total := make(map[string]uint32)
	for node, r := range results {
		if r.Code != 0 {
			return nil, fmt.Errorf("cluster: channels survey: node %s answered code %d", node, r.Code)
		}
		channels, err := DecodeChannelsResult(r.Data)
		if err != nil {
			return nil, fmt.Errorf("cluster: channels survey: answer of node %s: %w", node, err)
		}
		for ch, n := range channels {
			total[ch] += n
		}
	}
	return total, nil
}
