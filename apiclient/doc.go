// Package apiclient speaks the imi.chat v3.1 chat-list API: it sends one
// request per page of GET /v3.1/chats, decodes the {status_code, description,
// response} envelope liberally, parses the rate-limit headers and walks the
// pages of a tenant. It knows nothing of Prometheus: what it sees on the wire
// is reported through the Observer interface.
//
// The access token is a secret. It is sent in the access_token header and
// nowhere else: no error text, log line or observation carries it.
package apiclient
