package apiclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// StatusListRetrieved is the API's status_code for a successful chat list.
const StatusListRetrieved = 4305

// Known API status codes, from the v3.1 reference.
var statusMeanings = map[int]string{
	4305: "list retrieved",
	2002: "a mandatory header is missing",
	2003: "invalid access token",
	2004: "access token expired",
	2007: "internal server error",
	2010: "no team for the teamid header",
	2099: "method not allowed",
	3454: "chat list could not be retrieved",
}

// StatusMeaning returns the documented meaning of an API status code, or ""
// for a code the reference does not list.
func StatusMeaning(code int) string { return statusMeanings[code] }

// envelope is the body of every response, whatever its status. The chat
// list is decoded in the same pass as the rest: a body is scanned once.
type envelope struct {
	StatusCode  text        `json:"status_code"`
	Description text        `json:"description"`
	Response    []*wireChat `json:"response"`
}

// errNoEnvelope marks a body that is not the API's JSON envelope at all
// (an HTML gateway page, plain text, truncated JSON).
var errNoEnvelope = errors.New("body is not a JSON envelope")

// decodedPage is what a response body holds once decoded.
type decodedPage struct {
	statusCode    int  // 0 when the body carried none
	hasStatusCode bool // the envelope had a numeric status_code
	description   string
	chats         []Chat
}

// decodePage decodes one response body: the envelope and, when its status
// is 4305, the chat list.
func decodePage(body []byte) (decodedPage, error) {
	var p decodedPage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return p, errNoEnvelope
	}
	var env envelope
	var listErr error
	if err := json.Unmarshal(trimmed, &env); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return p, fmt.Errorf("%w: %v", errNoEnvelope, err)
		}
		// Only the list can mismatch (every other field takes any JSON
		// value), and encoding/json decodes the rest of the envelope
		// regardless: an error envelope with an odd response is still read.
		listErr = fmt.Errorf("response is not a list of chat objects: %v", err)
	}
	p.description = string(env.Description)
	if env.StatusCode != "" {
		if code, err := strconv.Atoi(strings.TrimSpace(string(env.StatusCode))); err == nil {
			p.statusCode, p.hasStatusCode = code, true
		}
	}
	if !p.hasStatusCode {
		return p, fmt.Errorf("%w: no numeric status_code", errNoEnvelope)
	}
	if p.statusCode != StatusListRetrieved {
		return p, nil
	}
	if listErr != nil {
		return p, fmt.Errorf("status_code 4305 but %w", listErr)
	}
	// The reference does not say what a page past the end holds; a missing
	// or null list is read as an empty page, like [].
	chats, err := chatsFromWire(env.Response)
	if err != nil {
		return p, fmt.Errorf("chat list: %w", err)
	}
	p.chats = chats
	return p, nil
}
