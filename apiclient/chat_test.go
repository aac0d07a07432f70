package apiclient

import (
	"reflect"
	"testing"
	"time"
)

func TestDecodeChatLiberalForms(t *testing.T) {
	created := time.Date(2020, 7, 6, 7, 11, 33, 259938200, time.UTC)
	tests := []struct {
		name string
		json string
		want Chat
	}{
		{
			name: "documented form",
			json: `{"chat_id":"c1","alias_id":"a1","created_at":"2020-07-06T07:11:33.2599382Z","updated_at":"2020-07-06T07:12:00.12Z",
				"status":"queued","channel":"sms","asset":{"id":12345,"name":"Long code"},"customer_id":"cu","destination_id":"+15550100",
				"assignee":"agent1","flag":"red","tag":["vip","billing"],"other_details":{"k":"v"}}`,
			want: Chat{ID: "c1", CreatedAt: created, UpdatedAt: time.Date(2020, 7, 6, 7, 12, 0, 120000000, time.UTC),
				Status: "queued", Channel: "sms", Asset: Asset{ID: "12345", Name: "Long code"}, Assignee: "agent1", Flag: "red", Tags: []string{"vip", "billing"}},
		},
		{
			name: "channel casing normalised, status too",
			json: `{"chat_id":"c2","status":"Picked","channel":"LiveChat"}`,
			want: Chat{ID: "c2", Status: "picked", Channel: "livechat"},
		},
		{
			name: "unknown channel kept",
			json: `{"chat_id":"c3","status":"queued","channel":"Telegram"}`,
			want: Chat{ID: "c3", Status: "queued", Channel: "telegram"},
		},
		{
			name: "asset as plain string",
			json: `{"chat_id":"c4","asset":"Support inbox"}`,
			want: Chat{ID: "c4", Asset: Asset{Name: "Support inbox"}},
		},
		{
			name: "asset id as string",
			json: `{"chat_id":"c5","asset":{"id":"support@example.test","name":"Mail"}}`,
			want: Chat{ID: "c5", Asset: Asset{ID: "support@example.test", Name: "Mail"}},
		},
		{
			name: "asset id beyond float64 precision keeps its digits",
			json: `{"chat_id":"c6","asset":{"id":102938475610293847,"name":"Page"}}`,
			want: Chat{ID: "c6", Asset: Asset{ID: "102938475610293847", Name: "Page"}},
		},
		{
			name: "tags as objects and strings mixed",
			json: `{"chat_id":"c7","tag":[{"name":"vip","id":3},"sales",{"id":4},"",null,42]}`,
			want: Chat{ID: "c7", Tags: []string{"vip", "sales", "42"}},
		},
		{
			name: "tag null",
			json: `{"chat_id":"c8","tag":null}`,
			want: Chat{ID: "c8"},
		},
		{
			name: "tag as single string",
			json: `{"chat_id":"c9","tag":"vip"}`,
			want: Chat{ID: "c9", Tags: []string{"vip"}},
		},
		{
			name: "null and missing fields",
			json: `{"chat_id":"c10","alias_id":null,"created_at":null,"status":null,"channel":null,"asset":null,"assignee":null,"flag":null}`,
			want: Chat{ID: "c10"},
		},
		{
			name: "unknown fields ignored, numbers where strings were expected",
			json: `{"chat_id":123,"team_id":7,"team_name":"T","route_params":{"a":[1,2]},"assignee":{"login":"x"},"subject":"hi"}`,
			want: Chat{ID: "123"},
		},
		{
			name: "unparseable timestamp becomes zero, the chat stays",
			json: `{"chat_id":"c11","created_at":"yesterday","status":"closed"}`,
			want: Chat{ID: "c11", Status: "closed"},
		},
		{
			name: "assignee padded with spaces",
			json: `{"chat_id":"c12","assignee":"  "}`,
			want: Chat{ID: "c12"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePage([]byte(`{"status_code":4305,"response":[` + tt.json + `]}`))
			chats := p.chats
			if err != nil || len(chats) != 1 {
				t.Fatalf("decode: %d chats, %v", len(chats), err)
			}
			got := chats[0]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	base := time.Date(2020, 7, 6, 7, 11, 33, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2020-07-06T07:11:33Z", base, true},
		{"2020-07-06T07:11:33.25Z", base.Add(250 * time.Millisecond), true},
		{"2020-07-06T07:11:33.259Z", base.Add(259 * time.Millisecond), true},
		{"2020-07-06T07:11:33.2599382Z", base.Add(259938200 * time.Nanosecond), true},
		{"2020-07-06T07:11:33.123456789Z", base.Add(123456789 * time.Nanosecond), true},
		{"2020-07-06T09:11:33+02:00", base, true},
		{"2020-07-06T07:11:33.5", base.Add(500 * time.Millisecond), true},
		{"2020-07-06 07:11:33Z", base, true},
		{"2020-07-06 07:11:33", base, true},
		{" 2020-07-06T07:11:33Z ", base, true},
		{"", time.Time{}, false},
		{"07/06/2020", time.Time{}, false},
		{"2020-13-06T07:11:33Z", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimestamp(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.ok && got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
		})
	}
}

func TestDecodePage(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantCode  int
		wantChats int
		wantErr   bool
	}{
		{"list", `{"status_code":4305,"description":"ok","response":[{"chat_id":"a"},{"chat_id":"b"}]}`, 4305, 2, false},
		{"status code as string", `{"status_code":"4305","response":[{"chat_id":"a"}]}`, 4305, 1, false},
		{"empty list", `{"status_code":4305,"response":[]}`, 4305, 0, false},
		{"null list is an empty page", `{"status_code":4305,"response":null}`, 4305, 0, false},
		{"missing list is an empty page", `{"status_code":4305}`, 4305, 0, false},
		{"response object", `{"status_code":4305,"response":{}}`, 4305, 0, true},
		{"response string", `{"status_code":4305,"response":"oops"}`, 4305, 0, true},
		{"null chat", `{"status_code":4305,"response":[null]}`, 4305, 0, true},
		{"chat not an object", `{"status_code":4305,"response":["x"]}`, 4305, 0, true},
		{"error envelope", `{"status_code":2004,"description":"Access token expired","response":null}`, 2004, 0, false},
		{"error envelope with an object response", `{"status_code":2004,"description":"x","response":{}}`, 2004, 0, false},
		{"status code after an odd response", `{"response":"oops","status_code":2003}`, 2003, 0, false},
		{"list of lists", `{"status_code":4305,"response":[[1]]}`, 4305, 0, true},
		{"no status code", `{"description":"x","response":[]}`, 0, 0, true},
		{"html", `<html><body>502 Bad Gateway</body></html>`, 0, 0, true},
		{"truncated", `{"status_code":4305,"response":[{"chat_id":"a"`, 0, 0, true},
		{"empty body", ``, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePage([]byte(tt.body))
			code, chats := p.statusCode, p.chats
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if code != tt.wantCode || len(chats) != tt.wantChats {
				t.Errorf("code %d, %d chats; want %d, %d", code, len(chats), tt.wantCode, tt.wantChats)
			}
		})
	}
}
