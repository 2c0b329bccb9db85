package report

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/admitpark/admit/sales/web"
)

// Routes registers:
//
//	GET /v1/reports/{name}?park=&from=&to=&period=&group_by=&format=   admin, finance
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	mux.Handle("GET /v1/reports/{name}", web.Authenticated(authn, web.Require(a.handleReport, web.RoleAdmin, web.RoleFinance)))
}

// lazyWriter sends the headers with the first byte of the report, so a
// refusal before any row can still be a 4xx.
type lazyWriter struct {
	w       http.ResponseWriter
	header  func()
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
	}
	return l.w.Write(b)
}

func (a *API) handleReport(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "park", "from", "to", "period", "group_by", "format":
		default:
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: fmt.Sprintf("unknown parameter %q (park, from, to, period, group_by, format)", k), Code: "bad_parameter"})
			return
		}
		if len(q[k]) > 1 {
			web.JSON(w, http.StatusBadRequest, web.ProblemBody{Error: fmt.Sprintf("parameter %q given twice", k), Code: "bad_parameter"})
			return
		}
	}
	p := Params{Park: q.Get("park"), From: q.Get("from"), To: q.Get("to"), Period: q.Get("period"), Format: q.Get("format")}
	if g := q.Get("group_by"); g != "" {
		p.GroupBy = strings.Split(g, ",")
	}
	format := p.Format
	if format == "" {
		format = FormatJSON
	}
	// Exports may take longer than the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.cfg.Timeout + 30*time.Second))
	lw := &lazyWriter{w: w, header: func() {
		w.Header().Set("Content-Type", ContentType[format])
		if format != FormatJSON {
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.%s"`, name, p.Park, r.URL.Query().Get("from"), format))
		}
		w.WriteHeader(http.StatusOK)
	}}
	prin, _ := web.PrincipalFrom(r.Context())
	err := a.Write(r.Context(), prin, name, p, lw)
	if err == nil {
		return
	}
	if !lw.started {
		web.Fail(w, a.cfg.Log, err)
		return
	}
	// Half a report was sent: break the connection so the client sees a
	// truncated reply, never a file that looks complete.
	if !errors.Is(err, r.Context().Err()) {
		a.cfg.Log.Error("report failed while streaming", "report", name, "park", p.Park, "err", err)
	}
	panic(http.ErrAbortHandler)
}
