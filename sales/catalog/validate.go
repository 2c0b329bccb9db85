package catalog

import (
	"regexp"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // park time zones load on hosts without a tz database
	"unicode/utf8"
)

const (
	clockLayout = "15:04"
	maxName     = 200
	maxCount    = 10_000_000 // capacities, quotas
	maxZones    = 1024       // zones on a product (validator/ticket.MaxZones)
	maxEntries  = 65535
	maxPrice    = 1_000_000_000_00 // a billion in major units
	maxHours    = 24 * 366
	maxValid    = 3660 // days a product may be valid
	maxPerOrder = 1000
)

var (
	idRe         = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	gateIDRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	salesPointRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	currencyRe   = regexp.MustCompile(`^[A-Z]{3}$`)
)

var locations sync.Map // name -> *time.Location

// loadLocation loads an IANA zone, refusing "" and "Local" (which would
// mean UTC or the server's zone rather than the park's).
func loadLocation(name string) (*time.Location, error) {
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, invalid("bad_time_zone", `"time_zone" must be an IANA zone such as "Asia/Shanghai"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("bad_time_zone", `"time_zone" %q is not an IANA zone (such as "Asia/Shanghai")`, name)
	}
	locations.Store(name, loc)
	return loc, nil
}

func checkID(field, id string) error {
	if !idRe.MatchString(id) {
		return invalid("bad_id", "%q must be 1-64 characters: lower-case letters, digits, - and _, starting with a letter or digit (got %q)", field, id)
	}
	return nil
}

func checkName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return invalid("bad_name", "%q is required", field)
	}
	if utf8.RuneCountInString(s) > maxName || !utf8.ValidString(s) {
		return invalid("bad_name", "%q must be valid UTF-8 of at most %d characters", field, maxName)
	}
	return nil
}

func checkCurrency(c string) error {
	if !currencyRe.MatchString(c) {
		return invalid("bad_currency", `"currency" must be 3 capital letters (ISO 4217, e.g. "CNY"), got %q`, c)
	}
	return nil
}

func checkCount(field string, n int) error {
	if n < 0 || n > maxCount {
		return invalid("bad_"+field, "%q must be between 0 and %d, got %d", field, maxCount, n)
	}
	return nil
}

// checkClock validates an "HH:MM" time of day; "" is allowed when optional.
func checkClock(field, s string, optional bool) error {
	if s == "" && optional {
		return nil
	}
	if _, err := time.Parse(clockLayout, s); err != nil || len(s) != 5 {
		return invalid("bad_time", "%q must be a time of day as HH:MM (e.g. \"09:30\"), got %q", field, s)
	}
	return nil
}

// parseDate reads a YYYY-MM-DD visit date (as midnight UTC; only the date
// counts).
func parseDate(field, s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, invalid("bad_date", "%q must be a date as YYYY-MM-DD, got %q", field, s)
	}
	if d.Year() < 2000 || d.Year() > 2200 {
		return time.Time{}, invalid("bad_date", "%q %s is out of range", field, s)
	}
	return d, nil
}

// ParkInput is what an admin sends to create or change a park.
type ParkInput struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	TimeZone      string `json:"time_zone"`
	Currency      string `json:"currency"`
	DailyCapacity *int   `json:"daily_capacity"`
	CapacityWarn  *int   `json:"capacity_warn"`
	OpensAt       string `json:"opens_at"`
	ClosesAt      string `json:"closes_at"`
}

// Input is p as a ParkInput, to change some fields.
func (p Park) Input() ParkInput {
	return ParkInput{ID: p.ID, Name: p.Name, TimeZone: p.TimeZone, Currency: p.Currency,
		DailyCapacity: p.DailyCapacity, CapacityWarn: p.CapacityWarn, OpensAt: p.OpensAt, ClosesAt: p.ClosesAt}
}

// Validate checks everything but what needs the database.
func (in ParkInput) Validate() error {
	if err := checkID("id", in.ID); err != nil {
		return err
	}
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	if _, err := loadLocation(in.TimeZone); err != nil {
		return err
	}
	if err := checkCurrency(in.Currency); err != nil {
		return err
	}
	if in.DailyCapacity != nil {
		if err := checkCount("daily_capacity", *in.DailyCapacity); err != nil {
			return err
		}
	}
	if in.CapacityWarn != nil {
		if err := checkCount("capacity_warn", *in.CapacityWarn); err != nil {
			return err
		}
		if in.DailyCapacity != nil && *in.CapacityWarn > *in.DailyCapacity {
			return invalid("bad_capacity_warn", `"capacity_warn" (%d) must not exceed "daily_capacity" (%d)`, *in.CapacityWarn, *in.DailyCapacity)
		}
	}
	if err := checkClock("opens_at", in.OpensAt, true); err != nil {
		return err
	}
	if err := checkClock("closes_at", in.ClosesAt, true); err != nil {
		return err
	}
	if (in.OpensAt == "") != (in.ClosesAt == "") {
		return invalid("bad_hours", `set both "opens_at" and "closes_at", or neither`)
	}
	if in.OpensAt != "" && in.ClosesAt <= in.OpensAt {
		return invalid("bad_hours", `"closes_at" (%s) must be after "opens_at" (%s)`, in.ClosesAt, in.OpensAt)
	}
	return nil
}

// ZoneInput creates or changes a zone.
type ZoneInput struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Cap  int    `json:"cap"`
	Warn int    `json:"warn"`
}

// Validate checks the zone.
func (in ZoneInput) Validate() error {
	if err := checkID("id", in.ID); err != nil {
		return err
	}
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	if err := checkCount("cap", in.Cap); err != nil {
		return err
	}
	if err := checkCount("warn", in.Warn); err != nil {
		return err
	}
	if in.Cap > 0 && in.Warn > in.Cap {
		return invalid("bad_warn", `"warn" (%d) must not exceed "cap" (%d)`, in.Warn, in.Cap)
	}
	return nil
}

// GateInput creates or changes a gate.
type GateInput struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction"` // "" means both
}

// Validate checks the gate and defaults its direction.
func (in *GateInput) Validate() error {
	if !gateIDRe.MatchString(in.ID) {
		return invalid("bad_id", `"id" must be 1-64 characters: letters, digits, . _ : -, starting with a letter or digit (got %q)`, in.ID)
	}
	if in.Zone == "" {
		return invalid("bad_zone", `"zone" is required`)
	}
	if err := checkID("zone", in.Zone); err != nil {
		return err
	}
	if in.Direction == "" {
		in.Direction = DirBoth
	}
	switch in.Direction {
	case DirIn, DirOut, DirBoth:
		return nil
	}
	return invalid("bad_direction", `"direction" must be "in", "out" or "both", got %q`, in.Direction)
}

// BusinessUnitInput creates a business unit.
type BusinessUnitInput struct {
	Name string `json:"name"`
}

// SalesPointInput creates a sales point.
type SalesPointInput struct {
	ID             string `json:"id"`
	ParkID         string `json:"park_id"`
	BusinessUnitID *int64 `json:"business_unit_id"`
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	Active         *bool  `json:"active"` // default true
}

// Validate checks the sales point.
func (in SalesPointInput) Validate() error {
	if !salesPointRe.MatchString(in.ID) {
		return invalid("bad_id", `"id" must be 1-64 characters: letters, digits, . _ -, starting with a letter or digit (got %q)`, in.ID)
	}
	if err := checkID("park_id", in.ParkID); err != nil {
		return err
	}
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	switch in.Kind {
	case PointWindow, PointKiosk, PointShop, PointDistributor:
		return nil
	}
	return invalid("bad_kind", `"kind" must be "window", "kiosk", "shop" or "distributor", got %q`, in.Kind)
}

// ProductInput creates or changes a product. Sales are stopped and resumed
// with StopSales and ResumeSales, not here.
type ProductInput struct {
	ID                string   `json:"id"`
	ParkID            string   `json:"park_id"`
	Name              string   `json:"name"`
	Kind              string   `json:"kind"`
	Entries           int      `json:"entries"`
	Zones             []string `json:"zones"`
	ValidDays         int      `json:"valid_days"`
	HasSlots          bool     `json:"has_slots"`
	RealName          bool     `json:"real_name"`
	MaxPerOrder       int      `json:"max_per_order"`
	DailyQuota        *int     `json:"daily_quota"`
	PriceMinor        int64    `json:"price_minor"`
	Currency          string   `json:"currency"` // "": the park's
	Refundable        bool     `json:"refundable"`
	RefundUntilHours  int      `json:"refund_until_hours"`
	RefundFeeMinor    int64    `json:"refund_fee_minor"`
	RefundFeePercent  int      `json:"refund_fee_percent"`
	DateChangeAllowed bool     `json:"date_change_allowed"`
	Active            bool     `json:"active"`
}

// NewProductInput is a ProductInput with the defaults of a new product:
// valid 1 day, at most 50 per order, refundable, active. Decode the
// request into it.
func NewProductInput() ProductInput {
	return ProductInput{ValidDays: 1, MaxPerOrder: 50, Refundable: true, Active: true}
}

// Input is p as a ProductInput, to change some fields.
func (p Product) Input() ProductInput {
	return ProductInput{ID: p.ID, ParkID: p.ParkID, Name: p.Name, Kind: p.Kind, Entries: p.Entries,
		Zones: p.Zones, ValidDays: p.ValidDays, HasSlots: p.HasSlots, RealName: p.RealName,
		MaxPerOrder: p.MaxPerOrder, DailyQuota: p.DailyQuota, PriceMinor: p.PriceMinor, Currency: p.Currency,
		Refundable: p.Refundable, RefundUntilHours: p.RefundUntilHours, RefundFeeMinor: p.RefundFeeMinor,
		RefundFeePercent: p.RefundFeePercent, DateChangeAllowed: p.DateChangeAllowed, Active: p.Active}
}

// Validate checks everything but what needs the park (zones, currency).
func (in ProductInput) Validate() error {
	if err := checkID("id", in.ID); err != nil {
		return err
	}
	if err := checkID("park_id", in.ParkID); err != nil {
		return err
	}
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	switch in.Kind {
	case KindMulti, KindGroup:
		if in.Entries < 1 || in.Entries > maxEntries {
			what := "entries"
			if in.Kind == KindGroup {
				what = "persons"
			}
			return invalid("bad_entries", `a %s product needs "entries" (its %s) between 1 and %d, got %d`, in.Kind, what, maxEntries, in.Entries)
		}
	case KindSingle, KindDayPass, KindPeriod:
		if in.Entries != 0 {
			return invalid("bad_entries", `"entries" applies only to multi and group products; leave it 0 for %s`, in.Kind)
		}
	default:
		return invalid("bad_kind", `"kind" must be single, multi, day_pass, period or group, got %q`, in.Kind)
	}
	if len(in.Zones) > maxZones {
		return invalid("bad_zones", `"zones" lists more than %d zones`, maxZones)
	}
	for i, z := range in.Zones {
		if err := checkID("zones", z); err != nil {
			return err
		}
		for _, prev := range in.Zones[:i] {
			if prev == z {
				return invalid("bad_zones", `zone %q is listed twice in "zones"`, z)
			}
		}
	}
	if in.ValidDays < 1 || in.ValidDays > maxValid {
		return invalid("bad_valid_days", `"valid_days" must be between 1 and %d, got %d`, maxValid, in.ValidDays)
	}
	if in.MaxPerOrder < 1 || in.MaxPerOrder > maxPerOrder {
		return invalid("bad_max_per_order", `"max_per_order" must be between 1 and %d, got %d`, maxPerOrder, in.MaxPerOrder)
	}
	if in.DailyQuota != nil {
		if err := checkCount("daily_quota", *in.DailyQuota); err != nil {
			return err
		}
	}
	if err := checkPrice("price_minor", in.PriceMinor); err != nil {
		return err
	}
	if in.Currency != "" {
		if err := checkCurrency(in.Currency); err != nil {
			return err
		}
	}
	if in.RefundUntilHours < -maxHours || in.RefundUntilHours > maxHours {
		return invalid("bad_refund_until_hours", `"refund_until_hours" must be between %d and %d, got %d`, -maxHours, maxHours, in.RefundUntilHours)
	}
	if err := checkPrice("refund_fee_minor", in.RefundFeeMinor); err != nil {
		return err
	}
	if in.RefundFeePercent < 0 || in.RefundFeePercent > 100 {
		return invalid("bad_refund_fee_percent", `"refund_fee_percent" must be between 0 and 100, got %d`, in.RefundFeePercent)
	}
	return nil
}

func checkPrice(field string, v int64) error {
	if v < 0 {
		return invalid("bad_price", "%q must not be negative, got %d", field, v)
	}
	if v > maxPrice {
		return invalid("bad_price", "%q must be at most %d minor units, got %d", field, int64(maxPrice), v)
	}
	return nil
}

// SlotInput creates a time slot.
type SlotInput struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	Capacity int    `json:"capacity"`
}

// Validate checks the slot.
func (in SlotInput) Validate() error {
	if err := checkClock("start", in.Start, false); err != nil {
		return err
	}
	if err := checkClock("end", in.End, false); err != nil {
		return err
	}
	if in.End <= in.Start {
		return invalid("bad_slot", `slot "end" (%s) must be after "start" (%s)`, in.End, in.Start)
	}
	return checkCount("capacity", in.Capacity)
}
