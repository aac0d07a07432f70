package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// defaultMaxBodyBytes bounds one response body. A page of 10 chats is a few
// kilobytes; anything near a mebibyte is not a chat page.
const defaultMaxBodyBytes = 1 << 20

// maxRedirects bounds the redirects followed for one request, as Go's
// default policy does.
const maxRedirects = 10

// ErrorReason says why a request got no usable response.
type ErrorReason string

// The reasons a request can fail before an API envelope is read. They are
// label values of a public metric: do not rename them.
const (
	ReasonTimeout  ErrorReason = "timeout"
	ReasonNetwork  ErrorReason = "network"
	ReasonDecode   ErrorReason = "decode"
	ReasonTooLarge ErrorReason = "too_large"
	// ReasonRedirect is a redirect the client refused to follow: to an
	// origin (scheme, host, port) other than the configured URL's, which
	// includes an https to http downgrade on the same host, or past
	// maxRedirects. The refused request is never sent, so the access
	// token never leaves the configured origin.
	ReasonRedirect ErrorReason = "redirect"
	// ReasonCanceled is a request abandoned by its caller (a walk that
	// already knows its end). It is not a failure of the API and observers
	// are not told of it.
	ReasonCanceled ErrorReason = "canceled"
)

// Observer is told of every response and every failed request, so that a
// caller can count them without the client knowing how. Implementations must
// be safe for concurrent use.
type Observer interface {
	// ObserveResponse is called for every HTTP response received.
	// statusCode is the envelope's status_code, or "" when the body carried
	// none.
	ObserveResponse(statusCode string, httpStatus int, limits RateLimit)
	// ObserveRequestError is called for every request that got no usable
	// response, canceled requests excepted.
	ObserveRequestError(reason ErrorReason)
}

// APIError is a response whose envelope carries a status_code other than
// 4305, or a 4305 with an HTTP status other than 200.
type APIError struct {
	StatusCode  int
	HTTPStatus  int
	Description string // from the response, with the token redacted
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("imi.chat API status_code %d (HTTP %d)", e.StatusCode, e.HTTPStatus)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if m := StatusMeaning(e.StatusCode); m != "" && !strings.EqualFold(m, e.Description) {
		msg += " [" + m + "]"
	}
	return msg
}

// RequestError is a request that got no usable response.
type RequestError struct {
	Reason     ErrorReason
	HTTPStatus int // 0 when no response arrived
	Err        error
}

func (e *RequestError) Error() string {
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("%s (HTTP %d): %v", e.Reason, e.HTTPStatus, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// TokenSource returns the current access token. It is called once per
// request, so a rotated token is picked up without a restart.
type TokenSource interface {
	Token() (string, error)
}

// StaticToken is a token that never changes.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token() (string, error) { return string(t), nil }

// Page is one decoded page of the chat list.
type Page struct {
	Number int
	Chats  []Chat
}

// Client requests pages of GET {BaseURL}/v3.1/chats.
//
// Redirects are followed only within BaseURL's origin (scheme, host and
// port), whatever HTTPClient's own CheckRedirect says: Go's client re-sends
// custom headers such as access_token to any host a redirect names.
type Client struct {
	BaseURL    *url.URL
	TeamID     string
	Token      TokenSource
	HTTPClient *http.Client // nil: a client with no timeout of its own; the context bounds each request
	Observer   Observer     // may be nil
	Logger     log.Logger   // may be nil
	Now        func() time.Time

	maxBodyBytes int64 // 0: defaultMaxBodyBytes; set by tests
}

// FetchPage requests one page. The error is an *APIError, a *RequestError
// or an error from the token source.
func (c *Client) FetchPage(ctx context.Context, page int) (Page, error) {
	token, err := c.Token.Token()
	if err != nil {
		return Page{}, fmt.Errorf("access token: %w", err)
	}
	u := *c.BaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v3.1/chats"
	q := u.Query()
	q.Set("page", strconv.Itoa(page))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("access_token", token)
	req.Header.Set("teamid", c.TeamID)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		httpStatus := 0
		if resp != nil {
			// A refused redirect: Do returns the redirect response,
			// its body closed, with the error.
			httpStatus = resp.StatusCode
		}
		return Page{}, c.requestError(ctx, httpStatus, err, token)
	}
	defer resp.Body.Close()

	limits := parseRateLimit(resp.Header, c.now())
	trxID := truncate(redactString(resp.Header.Get("trxid"), token), 128)
	body, readErr := readBounded(resp.Body, c.bodyLimit())

	// The body is decoded before the response is observed, so that the
	// status_code label is known; a body that could not be read whole is
	// still a response received.
	var p decodedPage
	var decodeErr error
	if readErr == nil {
		p, decodeErr = decodePage(body)
	}
	statusLabel := ""
	if p.hasStatusCode {
		statusLabel = strconv.Itoa(p.statusCode)
	}
	if c.Observer != nil {
		c.Observer.ObserveResponse(statusLabel, resp.StatusCode, limits)
	}

	switch {
	case readErr != nil:
		return Page{}, c.requestError(ctx, resp.StatusCode, readErr, token)
	case !p.hasStatusCode:
		// Not the API's envelope: a gateway page, plain text, truncated
		// JSON. A non-2xx status is the more useful half of the story.
		return Page{}, c.fail(&RequestError{Reason: ReasonDecode, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("%s body: %w", contentKind(resp), redact(decodeErr, token))}, trxID)
	case p.statusCode != StatusListRetrieved || resp.StatusCode != http.StatusOK:
		return Page{}, c.fail(&APIError{
			StatusCode:  p.statusCode,
			HTTPStatus:  resp.StatusCode,
			Description: truncate(redactString(p.description, token), 256),
		}, trxID)
	case decodeErr != nil:
		return Page{}, c.fail(&RequestError{Reason: ReasonDecode, HTTPStatus: resp.StatusCode,
			Err: redact(decodeErr, token)}, trxID)
	}
	return Page{Number: page, Chats: p.chats}, nil
}

// httpClient returns HTTPClient (or http.DefaultClient) with the redirect
// policy of this client. The copy shares the caller's Transport, and so its
// connection pool; the caller's client is not modified.
func (c *Client) httpClient() *http.Client {
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	guarded := *hc
	next := hc.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(c.BaseURL, req.URL, len(via)); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &guarded
}

// redirectError is a redirect the client refused to follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// checkRedirect allows a redirect to target only within base's origin, and
// at most maxRedirects of them for one request (via holds the requests
// already made). The message names origins only: a redirect's path and
// query are upstream's text.
func checkRedirect(base, target *url.URL, via int) error {
	from, to := origin(base), origin(target)
	switch {
	case from.scheme == "https" && to.scheme == "http":
		return &redirectError{fmt.Sprintf("redirect from %s to %s refused: it downgrades https to http", from, to)}
	case from != to:
		return &redirectError{fmt.Sprintf("redirect from %s to %s refused: the access token is sent only to the configured origin; set the URL to the new one if the API moved", from, to)}
	case via >= maxRedirects:
		return &redirectError{fmt.Sprintf("stopped after %d redirects", via)}
	}
	return nil
}

// originOf is a URL's scheme, host and port, normalised for comparison:
// lower case, the scheme's default port made explicit.
type originOf struct{ scheme, host, port string }

func (o originOf) String() string {
	return o.scheme + "://" + net.JoinHostPort(o.host, o.port)
}

func origin(u *url.URL) originOf {
	o := originOf{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "https":
			o.port = "443"
		case "http":
			o.port = "80"
		}
	}
	return o
}

// fail logs the transaction id of a failed request at debug level and tells
// the observer of request errors.
func (c *Client) fail(err error, trxID string) error {
	var re *RequestError
	if errors.As(err, &re) && c.Observer != nil {
		c.Observer.ObserveRequestError(re.Reason)
	}
	if c.Logger != nil {
		level.Debug(c.Logger).Log("msg", "request failed", "trxid", trxID, "err", err)
	}
	return err
}

// errTooLarge marks a body over the limit.
var errTooLarge = errors.New("body exceeds the size limit")

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w of %d bytes", errTooLarge, limit)
	}
	return body, nil
}

func (c *Client) requestError(ctx context.Context, httpStatus int, err error, token string) error {
	reason := ReasonNetwork
	var netErr net.Error
	var redirect *redirectError
	switch {
	case errors.Is(err, errTooLarge):
		reason = ReasonTooLarge
	case errors.As(err, &redirect):
		// The refusal alone: Do's *url.Error around it would name the
		// whole Location, path and query (any size, and not ours to log).
		reason, err = ReasonRedirect, redirect
	case errors.Is(ctx.Err(), context.Canceled):
		// Abandoned by the caller: not the API's fault, not observed.
		return &RequestError{Reason: ReasonCanceled, HTTPStatus: httpStatus, Err: redact(err, token)}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		reason = ReasonTimeout
	}
	return c.fail(&RequestError{Reason: reason, HTTPStatus: httpStatus, Err: redact(err, token)}, "")
}

func (c *Client) bodyLimit() int64 {
	if c.maxBodyBytes > 0 {
		return c.maxBodyBytes
	}
	return defaultMaxBodyBytes
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func contentKind(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return "untyped"
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return truncate(strings.TrimSpace(ct), 64)
}

// redact removes the token from an error's text. Upstream text is untrusted:
// a proxy or an API message could echo the header back.
func redact(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return redactedError{msg: redactString(err.Error(), token), err: err}
}

func redactString(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<redacted>")
}

// redactedError keeps the chain for errors.Is while hiding the token from
// the text.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
