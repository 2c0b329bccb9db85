package salesclient

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/orders"
)

// The client sends the sales packages' own request types to their paths,
// with the session token, and decodes their replies.
func TestClientPaths(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		var req auth.LoginRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Username != "cashier" || req.Password != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"wrong username or password"}`))
			return
		}
		json.NewEncoder(w).Encode(auth.LoginResult{Token: "sess"})
	})
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sess" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req orders.CreateRequest
		json.NewDecoder(r.Body).Decode(&req)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(orders.Order{Number: "A-1", TotalMinor: int64(100 * req.Lines[0].Quantity)})
	})
	mux.HandleFunc("POST /v1/orders/{ref}/pay", func(w http.ResponseWriter, r *http.Request) {
		var req orders.PayRequest
		json.NewDecoder(r.Body).Decode(&req)
		if r.PathValue("ref") != "A-1" || req.Method != "cash" || req.AmountMinor == nil || *req.AmountMinor != 200 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(orders.PayResult{Order: orders.Order{Tickets: []orders.Ticket{{ID: "t1", Code: "c1"}}}})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ready"}`)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := New(DefaultConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, "cashier", "wrong"); StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v", err)
	}
	login, err := c.Login(ctx, "cashier", "pw")
	if err != nil {
		t.Fatal(err)
	}
	cc := c.WithToken(login.Token)
	o, err := cc.CreateOrder(ctx, orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "p", Quantity: 2}}})
	if err != nil || o.Number != "A-1" || o.TotalMinor != 200 {
		t.Fatalf("order %+v, %v", o, err)
	}
	paid, err := cc.Pay(ctx, o.Number, orders.PayRequest{Method: "cash", AmountMinor: &o.TotalMinor})
	if err != nil || len(paid.Order.Tickets) != 1 || paid.Order.Tickets[0].Code != "c1" {
		t.Fatalf("pay %+v, %v", paid, err)
	}
}
