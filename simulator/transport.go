package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"time"
)

// NewTransport returns a RoundTripper that serves each request in-process by
// calling h, with no TCP: benchmarks can replay hundreds of thousands of
// pages in seconds. It behaves like a client talking to a net/http server:
// request headers arrive canonicalised, a body shorter than its
// Content-Length (or an aborted handler) reads as io.ErrUnexpectedEOF, and a
// request whose context ends before the handler returns fails with the
// context's error. h must honour r.Context() (Tenant does).
func NewTransport(h http.Handler) http.RoundTripper { return &transport{h: h} }

type transport struct{ h http.Handler }

func (tr *transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sr := req.WithContext(ctx) // shallow copy, as a server would see it
	sr.RequestURI = req.URL.RequestURI()
	sr.Proto, sr.ProtoMajor, sr.ProtoMinor = "HTTP/1.1", 1, 1
	sr.RemoteAddr = "127.0.0.1:0"
	if sr.Host == "" {
		sr.Host = req.URL.Host
	}
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	sr.Header = canonicalHeader(req.Header)

	rw := &recorder{header: http.Header{}}
	aborted := false
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					aborted = true
					return
				}
				err = fmt.Errorf("simulator: handler panicked: %v", v)
			}
		}()
		tr.h.ServeHTTP(rw, sr)
	}()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !rw.wrote {
		if aborted {
			return nil, fmt.Errorf("simulator: connection closed before response: %w", io.ErrUnexpectedEOF)
		}
		rw.WriteHeader(http.StatusOK)
	}
	body := rw.body.Bytes()
	cl := int64(len(body))
	var rd io.Reader = bytes.NewReader(body)
	if v := rw.sent.Get("Content-Length"); v != "" {
		if n, perr := strconv.ParseInt(v, 10, 64); perr == nil && n >= 0 {
			cl = n
			if int64(len(body)) > n {
				rd = bytes.NewReader(body[:n])
			}
		}
	} else if aborted {
		cl = -1
	}
	if aborted || int64(len(body)) < cl {
		rd = io.MultiReader(rd, errReader{io.ErrUnexpectedEOF})
	}
	return &http.Response{
		Status:        strconv.Itoa(rw.status) + " " + http.StatusText(rw.status),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.sent,
		Body:          io.NopCloser(rd),
		ContentLength: cl,
		Request:       req,
	}, nil
}

func canonicalHeader(h http.Header) http.Header {
	for k := range h {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			c := make(http.Header, len(h))
			for k, v := range h {
				ck := textproto.CanonicalMIMEHeaderKey(k)
				c[ck] = append(c[ck], v...)
			}
			return c
		}
	}
	return h
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// recorder is a minimal ResponseWriter; headers are frozen at WriteHeader
// like on the wire.
type recorder struct {
	header http.Header
	sent   http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	r.wrote, r.status, r.sent = true, code, r.header.Clone()
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(p)
}

func (r *recorder) Flush() {}

// Listen serves h on a fresh 127.0.0.1 listener with a random port until
// stop is called or ctx is done. stop waits for the server to wind down and
// may be called more than once.
func Listen(ctx context.Context, h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // faults produce expected connection errors
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			srv.Close() // closes connections too, which ends hanging requests
			<-done
		})
	}
	unregister := context.AfterFunc(ctx, shutdown)
	return "http://" + ln.Addr().String(), func() { unregister(); shutdown() }, nil
}
