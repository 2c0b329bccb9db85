package auth

import (
	"math"
	"net/http"
	"strconv"

	"github.com/admitpark/admit/sales/web"
)

// maxAuthBody limits the small JSON bodies of these routes.
const maxAuthBody = 16 << 10

// Routes registers the auth routes on mux. authn guards the admin routes
// (normally a itself). GET /v1/me, POST /v1/me/password and POST /v1/logout
// use a's own session check that lets a user with a one-time password in,
// so they can change it.
//
//	POST   /v1/login                         anonymous, rate-limited per address, throttled per (username, address)
//	POST   /v1/logout                        any session
//	GET    /v1/me                            any session or API key
//	POST   /v1/me/password                   any session
//	GET    /v1/users, POST /v1/users         admin
//	PUT    /v1/users/{id}                    admin: display name, a cashier's window
//	POST   /v1/users/{id}/unlock             admin
//	POST   /v1/users/{id}/reset-password     admin
//	POST   /v1/users/{id}/disable, /enable   admin
//	POST   /v1/users/{id}/logout-all         admin
//	GET    /v1/distributors, POST            admin
//	GET    /v1/distributors/{id}/api-keys    admin
//	POST   /v1/distributors/{id}/api-keys    admin
//	DELETE /v1/api-keys/{id}                 admin
func (a *API) Routes(mux *http.ServeMux, authn web.Authenticator) {
	self := lenient{a}
	admin := func(h http.HandlerFunc) http.Handler {
		return web.Authenticated(authn, web.Require(h, web.RoleAdmin))
	}
	mux.HandleFunc("POST /v1/login", a.handleLogin)
	mux.Handle("POST /v1/logout", web.Authenticated(self, http.HandlerFunc(a.handleLogout)))
	mux.Handle("GET /v1/me", web.Authenticated(self, http.HandlerFunc(a.handleMe)))
	mux.Handle("POST /v1/me/password", web.Authenticated(self, http.HandlerFunc(a.handleChangePassword)))

	mux.Handle("GET /v1/users", admin(a.handleListUsers))
	mux.Handle("POST /v1/users", admin(a.handleCreateUser))
	mux.Handle("PUT /v1/users/{id}", admin(a.handleUpdateUser)) // console.go
	mux.Handle("POST /v1/users/{id}/unlock", admin(a.userAction(func(r *http.Request, by web.Principal, id int64) (User, error) {
		return a.Unlock(r.Context(), by, id)
	})))
	mux.Handle("POST /v1/users/{id}/disable", admin(a.userAction(func(r *http.Request, by web.Principal, id int64) (User, error) {
		return a.SetDisabled(r.Context(), by, id, true)
	})))
	mux.Handle("POST /v1/users/{id}/enable", admin(a.userAction(func(r *http.Request, by web.Principal, id int64) (User, error) {
		return a.SetDisabled(r.Context(), by, id, false)
	})))
	mux.Handle("POST /v1/users/{id}/reset-password", admin(a.handleResetPassword))
	mux.Handle("POST /v1/users/{id}/logout-all", admin(a.handleLogoutAll))

	mux.Handle("GET /v1/distributors", admin(a.handleListDistributors))
	mux.Handle("POST /v1/distributors", admin(a.handleCreateDistributor))
	mux.Handle("GET /v1/distributors/{id}/api-keys", admin(a.handleListAPIKeys))
	mux.Handle("POST /v1/distributors/{id}/api-keys", admin(a.handleCreateAPIKey))
	mux.Handle("DELETE /v1/api-keys/{id}", admin(a.handleRevokeAPIKey))
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (a *API) handleLogin(w http.ResponseWriter, r *http.Request) {
	addr := web.RemoteAddr(r)
	if ok, wait := a.limiter.allow(addr, a.clock.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		web.Fail(w, a.log, problem(ErrRateLimited, http.StatusTooManyRequests, "too_many_requests",
			"too many login attempts from this address; try again in %d s", int(math.Ceil(wait.Seconds()))))
		return
	}
	var req LoginRequest
	if !web.Decode(w, r, &req, maxAuthBody) {
		return
	}
	if req.Username == "" || req.Password == "" {
		web.Fail(w, a.log, invalid("missing_credentials", "send {\"username\": ..., \"password\": ...}"))
		return
	}
	res, err := a.Login(r.Context(), req.Username, req.Password, addr)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, res)
}

func (a *API) handleLogout(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	if err := a.Logout(r.Context(), p, web.BearerToken(r)); err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}

// MeReply is GET /v1/me: the caller, and for a session its user.
type MeReply struct {
	Principal web.Principal `json:"principal"`
	User      *User         `json:"user,omitempty"`
}

func (a *API) handleMe(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	reply := MeReply{Principal: p}
	if p.UserID != 0 {
		u, err := a.Me(r.Context(), p)
		if err != nil {
			web.Fail(w, a.log, err)
			return
		}
		reply.User = &u
	}
	web.JSON(w, http.StatusOK, reply)
}

// ChangePasswordRequest is the body of POST /v1/me/password.
type ChangePasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// ChangePasswordReply answers POST /v1/me/password. The session that
// changed the password stays valid; every other session of the user ends.
type ChangePasswordReply struct {
	Status             string `json:"status"` // password_changed
	OtherSessionsEnded int64  `json:"other_sessions_ended"`
}

func (a *API) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	var req ChangePasswordRequest
	if !web.Decode(w, r, &req, maxAuthBody) {
		return
	}
	ended, err := a.ChangePassword(r.Context(), p, web.BearerToken(r), req.OldPassword, req.NewPassword)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, ChangePasswordReply{Status: "password_changed", OtherSessionsEnded: ended})
}

func (a *API) handleListUsers(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	users, err := a.ListUsers(r.Context(), p)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"users": users})
}

// UserReply is a user, with its one-time password when one was just made.
type UserReply struct {
	User            User   `json:"user"`
	OneTimePassword string `json:"one_time_password,omitempty"`
}

func (a *API) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	var req NewUser
	if !web.Decode(w, r, &req, maxAuthBody) {
		return
	}
	u, oneTime, err := a.CreateUser(r.Context(), p, req)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusCreated, UserReply{User: u, OneTimePassword: oneTime})
}

// pathID reads the {id} path value, answering 400 itself when it is bad.
func (a *API) pathID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	id, err := parseID(r.PathValue("id"), what)
	if err != nil {
		web.Fail(w, a.log, err)
		return 0, false
	}
	return id, true
}

func (a *API) userAction(fn func(r *http.Request, by web.Principal, id int64) (User, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.pathID(w, r, "user")
		if !ok {
			return
		}
		p, _ := web.PrincipalFrom(r.Context())
		u, err := fn(r, p, id)
		if err != nil {
			web.Fail(w, a.log, err)
			return
		}
		web.JSON(w, http.StatusOK, UserReply{User: u})
	}
}

func (a *API) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "user")
	if !ok {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	u, oneTime, err := a.ResetPassword(r.Context(), p, id)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, UserReply{User: u, OneTimePassword: oneTime})
}

func (a *API) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "user")
	if !ok {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	n, err := a.LogoutAll(r.Context(), p, id)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]int64{"sessions_ended": n})
}

func (a *API) handleListDistributors(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	ds, err := a.ListDistributors(r.Context(), p)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"distributors": ds})
}

// NewDistributorRequest is the body of POST /v1/distributors.
type NewDistributorRequest struct {
	Name string `json:"name"`
}

func (a *API) handleCreateDistributor(w http.ResponseWriter, r *http.Request) {
	p, _ := web.PrincipalFrom(r.Context())
	var req NewDistributorRequest
	if !web.Decode(w, r, &req, maxAuthBody) {
		return
	}
	d, err := a.CreateDistributor(r.Context(), p, req.Name)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"distributor": d})
}

func (a *API) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "distributor")
	if !ok {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	keys, err := a.ListAPIKeys(r.Context(), p, id)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"api_keys": keys})
}

// NewAPIKeyReply is POST /v1/distributors/{id}/api-keys: Key is shown
// only here.
type NewAPIKeyReply struct {
	APIKey APIKey `json:"api_key"`
	Key    string `json:"key"`
}

func (a *API) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "distributor")
	if !ok {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	k, key, err := a.CreateAPIKey(r.Context(), p, id)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusCreated, NewAPIKeyReply{APIKey: k, Key: key})
}

func (a *API) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r, "API key")
	if !ok {
		return
	}
	p, _ := web.PrincipalFrom(r.Context())
	k, err := a.RevokeAPIKey(r.Context(), p, id)
	if err != nil {
		web.Fail(w, a.log, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"api_key": k})
}
