// Package catalog owns what the park sells and where: parks (time zone,
// currency, daily capacity, opening hours), zones and gates, business units
// and sales points, products with their refund policy, per-date price
// overrides and time slots, and the operator's stop of sales.
//
// Other sales packages read the catalog through GetPark, GetProduct,
// PriceFor, GetSlot, RefundFee and RefundAllowed; the HTTP API (Routes)
// lets an admin change it.
//
// Invariants:
//   - A park's time zone loads with time.LoadLocation (the tz database is
//     embedded, so this holds on any host); a visit date is a day in it.
//   - Money is int64 minor units; a product's currency is its park's, and a
//     park's currency cannot change while it has products.
//   - A product's zones are a subset of its park's zones, without repeats;
//     none means every zone. Zones are never deleted here, so the subset
//     stays true.
//   - Every change is written with its audit.Record in the same
//     transaction. A change to a park's time zone, a zone or a gate also
//     writes an outbox row of kind 'configure' in that transaction
//     (outbox.WriteConfigure: {"time_zone"}, {"zones":[{"id","cap","warn","bit"}]}
//     or {"gates":[{"id","zone","direction"}]}), which sync sends to the
//     park's cluster; the catalog never calls the cluster itself.
//   - Changing functions take a pgx.Tx, so the change, its audit entry and
//     its outbox row commit or roll back together.
//
// Who may do what (checked in Routes):
//
//	admin                 everything
//	finance               read everything
//	cashier, distributor  read parks, products, prices, slots, availability
//	gate_operator         read parks, zones and gates
//
// A cashier or distributor that tries to change anything gets 403.
package catalog
