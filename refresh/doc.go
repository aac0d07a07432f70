// Package refresh decides which pages of a team's chat list to read when,
// within the tenant's API quota, and keeps what it read merged into one
// picture of the list: the numbers the collector serves.
//
// # The problem
//
// The API lists every chat of the tenant, newest first, 10 a page, with no
// filter and no total, and allows 10,000 requests a day. A tenant's history
// only grows; thousands of chats arrive a day; the queued count and the
// oldest queued wait are what people are paged on. Reading every page on
// every pull spends the day's quota within hours, so the engine reads the
// pages where a read corrects the served numbers most, and estimates the
// rest.
//
// # The picture (state.go)
//
// The engine keeps the chats created within the lookback (24 h by
// default), each as last read, in the list's order. A read of consecutive
// pages is the truth for the range of creation times it spans, so reads of
// different parts at different times merge into one contiguous window,
// whose coverage is exported.
//
// # A turn (refresher.go, engine.go)
//
// Every pull starts a turn, or joins the one in flight. The turn's plan
// (engine.plan) either holds the pull back, and the last result is served,
// or refreshes. A refresh reads, in order and within the pages the quota
// allows when each starts:
//
//   - head: from the first page down to the newest chat known, where every
//     new chat appears;
//   - deepen: on a cold start, the pages below the coverage, until it
//     reaches the lookback (a burst first, then a part of the pace);
//   - open: the pages of open chats worth the price of a page, best first;
//   - sweep: a rolling re-read of the window, which catches what nothing
//     else sees (a reopened or deleted chat).
//
// # The worth and the price (worth.go, model.go, hazard.go)
//
// A page is worth the error of the served numbers that reading it is
// expected to correct, accumulated since it was last read, in chat-seconds
// (a queued chat counts 1, other changes far less). What is expected comes
// from what the engine has learned from its own reads: the life tables of
// how long chats stay queued, picked and on hold, and the arrival rate. A
// young queued chat read a minute ago has probably been picked; one that
// has waited two hours probably has not.
//
// A page is read when its worth reaches the price of a page. The price
// follows the quota's bucket: it rises as the bucket empties and falls as
// it fills, so the share is spent where it corrects most.
//
// # The quota (pacer.go)
//
// A tenant's Quota spends at most its share of the API's quota in any 24
// hours, at the fastest even pace that keeps every 24-hour window within
// it, and never a request the rate-limit headers say is not there. A cold
// start's burst is paid back by a slower pace. The teams of a tenant share
// one bucket and one price; a floor of the pace is split evenly among
// them, so that a quiet team is still read.
//
// # The estimate (nowcast.go)
//
// Between reads, a chat last read queued may have been picked. The served
// queued count moves each such chat out of the queue with the probability,
// from the queue's life table, that it has left since it was read.
//
// # The service level (service.go)
//
// Apart from the state, which starts over after a long outage, the engine
// follows every chat of the window by a hash of its id, so that what the
// reads show over time is counted once: an arrival, a queue exit with its
// outcome and wait, a handle time. A pick no read saw (a chat first seen
// on hold, or closed by its agent) is dated from the life tables of the
// queue and of the handling, at a quantile fixed per chat.
//
// The tuning constants, each with the reason for its value, are in
// tuning.go.
package refresh
