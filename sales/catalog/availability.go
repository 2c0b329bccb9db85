package catalog

import (
	"context"
	"time"

	"github.com/admitpark/admit/sales/quota"
)

// Availability is what a sales screen shows for a product on a day: the
// price, whether it is on sale, and the places left under each limit.
type Availability struct {
	ProductID    string               `json:"product_id"`
	ParkID       string               `json:"park_id"`
	Date         string               `json:"date"`
	SlotID       int64                `json:"slot_id,omitempty"`
	PriceMinor   int64                `json:"price_minor"`
	Currency     string               `json:"currency"`
	Active       bool                 `json:"active"`
	SalesStopped bool                 `json:"sales_stopped"`
	Past         bool                 `json:"past"`      // the date is before today in the park's zone
	OnSale       bool                 `json:"on_sale"`   // active, not stopped, not past
	Remaining    *int                 `json:"remaining"` // fewest places left under any limit; null: no limit
	Limits       []quota.Availability `json:"limits"`
	// Slots: for a product sold by slot when no slot was asked, each slot
	// with its places left (park, product and slot limits together).
	Slots []SlotAvailability `json:"slots,omitempty"`
}

// SlotAvailability is one slot's places on a day.
type SlotAvailability struct {
	Slot
	Remaining *int                 `json:"remaining"`
	Limits    []quota.Availability `json:"limits"`
}

func fewest(ls []quota.Availability) *int {
	var out *int
	for _, l := range ls {
		if l.Remaining != nil && (out == nil || *l.Remaining < *out) {
			v := *l.Remaining
			out = &v
		}
	}
	return out
}

// CheckAvailability reports product's availability on date (its year,
// month and day) at now and, when slotID is not 0, in that slot.
func CheckAvailability(ctx context.Context, db DB, productID string, date time.Time, slotID int64, now time.Time) (Availability, error) {
	p, err := GetProduct(ctx, db, productID)
	if err != nil {
		return Availability{}, err
	}
	park, err := GetPark(ctx, db, p.ParkID)
	if err != nil {
		return Availability{}, err
	}
	if slotID != 0 && !p.HasSlots {
		return Availability{}, invalid("no_slots", "product %q is not sold by time slot; leave out \"slot\"", productID)
	}
	price, err := PriceFor(ctx, db, productID, date)
	if err != nil {
		return Availability{}, err
	}
	a := Availability{ProductID: p.ID, ParkID: p.ParkID, Date: dateOf(date), SlotID: slotID, PriceMinor: price,
		Currency: p.Currency, Active: p.Active, SalesStopped: p.SalesStopped}
	a.Past = park.Day(date).Before(park.Today(now))
	a.OnSale = p.OnSale() == nil && !a.Past
	req := quota.Request{ParkID: p.ParkID, ProductID: p.ID, SlotID: slotID, VisitDate: date, Quantity: 1}
	if a.Limits, err = quota.Available(ctx, db, req); err != nil {
		return Availability{}, err
	}
	a.Remaining = fewest(a.Limits)
	if slotID != 0 || !p.HasSlots {
		return a, nil
	}
	slots, err := ListSlots(ctx, db, p.ID)
	if err != nil {
		return Availability{}, err
	}
	a.Slots = make([]SlotAvailability, 0, len(slots))
	for _, s := range slots {
		req.SlotID = s.ID
		ls, err := quota.Available(ctx, db, req)
		if err != nil {
			return Availability{}, err
		}
		a.Slots = append(a.Slots, SlotAvailability{Slot: s, Remaining: fewest(ls), Limits: ls})
	}
	return a, nil
}
