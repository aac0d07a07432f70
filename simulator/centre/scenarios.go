package centre

import (
	"math"
	"time"
)

// Scenario is a named kind of day of a centre.
type Scenario struct {
	Name string
	// Build returns the centre over days from start (a midnight); the
	// scenario's events happen on the day beginning at day.
	Build func(seed int64, start time.Time, days int, day time.Time) Config
}

// messaging is the usual mix of messaging channels: seconds to minutes of
// waiting in a staffed hour, customers who give up after minutes.
func messaging() []Channel {
	return []Channel{
		{Name: "whatsapp", Share: 0.40, Handle: 6 * time.Minute, Patience: 15 * time.Minute, HoldShare: 0.15, Hold: 5 * time.Minute},
		{Name: "livechat", Share: 0.35, Handle: 5 * time.Minute, Patience: 10 * time.Minute, HoldShare: 0.10, Hold: 3 * time.Minute},
		{Name: "facebook", Share: 0.15, Handle: 8 * time.Minute, Patience: 30 * time.Minute, HoldShare: 0.10, Hold: 10 * time.Minute},
		{Name: "sms", Share: 0.10, Handle: 4 * time.Minute, Patience: 30 * time.Minute},
	}
}

// officeShifts staff messaging for about 3,000 chats a day on the office
// profile with three chats an agent at once, scaled by k (at least one
// agent a shift).
func officeShifts(k float64) []Shift {
	n := func(base float64) int { return max(1, int(math.Round(base*k))) }
	return []Shift{
		{From: 0, To: 7 * time.Hour, Agents: n(1)},
		{From: 6 * time.Hour, To: 14 * time.Hour, Agents: n(5)},
		{From: 8 * time.Hour, To: 16 * time.Hour, Agents: n(6)},
		{From: 11 * time.Hour, To: 19 * time.Hour, Agents: n(6)},
		{From: 15 * time.Hour, To: 23 * time.Hour, Agents: n(5)},
		{From: 22 * time.Hour, To: 24 * time.Hour, Agents: n(1)},
	}
}

func at(day time.Time, h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// Scenarios are the days of issue 16.
var Scenarios = []Scenario{
	{
		// 3,000 a day, well staffed; at 14:00 every agent stops picking
		// for 45 minutes.
		Name: "stall",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 3000, Profile: OfficeHours,
				Channels: messaging(), History: 20000,
				Teams:  []Team{{Name: "Messaging", Concurrency: 3, Shifts: officeShifts(1)}},
				Stalls: []Window{{From: at(day, 14, 0), To: at(day, 14, 45)}}}
		},
	},
	{
		// 3,000 a day and a campaign: 1,500 WhatsApp chats in 20 minutes
		// at 11:00.
		Name: "campaign",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 3000, Profile: OfficeHours,
				Channels: messaging(), History: 20000,
				Teams:     []Team{{Name: "Messaging", Concurrency: 3, Shifts: officeShifts(1)}},
				Campaigns: []Campaign{{At: at(day, 11, 0), For: 20 * time.Minute, Chats: 1500, Channel: "whatsapp"}}}
		},
	},
	{
		// 5,000 a day, 30% of them e-mails handled by a team of their own
		// in office hours: e-mails wait hours, messaging seconds to
		// minutes.
		Name: "channel_mix",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			chans := messaging()
			for i := range chans {
				chans[i].Share *= 0.7
			}
			chans = append(chans, Channel{Name: "email", Share: 0.3, Handle: 8 * time.Minute})
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 5000, Profile: OfficeHours,
				Channels: chans, History: 20000,
				Teams: []Team{
					{Name: "Messaging", Channels: []string{"whatsapp", "livechat", "facebook", "sms"}, Concurrency: 3, Shifts: officeShifts(3500.0 / 3000)},
					{Name: "Email", Channels: []string{"email"}, Concurrency: 2, Shifts: []Shift{{From: 8 * time.Hour, To: 17 * time.Hour, Agents: 12}}},
				}}
		},
	},
	{
		// 3,000 a day and nobody from 20:00 to 08:00: the night's chats
		// (customers leave a message and do not give up) wait for the
		// morning shift, which drains them.
		Name: "night",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			chans := messaging()
			for i := range chans {
				chans[i].Patience = 0
			}
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 3000, Profile: OfficeHours,
				Channels: chans, History: 20000,
				Teams: []Team{{Name: "Messaging", Concurrency: 3, Shifts: []Shift{
					{From: 8 * time.Hour, To: 16 * time.Hour, Agents: 12},
					{From: 11 * time.Hour, To: 19 * time.Hour, Agents: 6},
					{From: 14 * time.Hour, To: 20 * time.Hour, Agents: 4},
				}}}}
		},
	},
	{
		// 3,000 a day with long holds (30% of picked chats, an hour on
		// average, holding their agent's slot) and 5% of the chats agents
		// close reopened by the customer two hours later on average.
		Name: "reopen",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			chans := messaging()
			for i := range chans {
				chans[i].HoldShare, chans[i].Hold = 0.3, time.Hour
				chans[i].Reopen, chans[i].ReopenAfter = 0.05, 2*time.Hour
			}
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 3000, Profile: OfficeHours,
				Channels: chans, History: 20000,
				Teams: []Team{{Name: "Messaging", Concurrency: 6, Shifts: officeShifts(1.3)}}}
		},
	},
	{
		// 30,000 a day on the office profile, staffed a little tighter
		// than the smaller centres.
		Name: "busy",
		Build: func(seed int64, start time.Time, days int, day time.Time) Config {
			return Config{Seed: seed, Start: start, Days: days, ArrivalsPerDay: 30000, Profile: OfficeHours,
				Channels: messaging(), History: 20000,
				Teams: []Team{{Name: "Messaging", Concurrency: 3, Shifts: officeShifts(7)}}}
		},
	},
}

// ScenarioNamed is the scenario of that name, and whether there is one.
func ScenarioNamed(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}
