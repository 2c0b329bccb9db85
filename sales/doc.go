// Package sales is the money side of the park: catalog, quotas, orders,
// payments, issuance, refunds, users and look-ups, on PostgreSQL. The code
// lives in its sub-packages; sales/server wires them into one service.
package sales
