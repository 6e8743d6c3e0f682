// Package httpapi is sciflow's HTTP interface: the JSON API of API.md, the
// operational endpoints, and the middleware every request passes through.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sciflow/sciflow/internal/account"
	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/auth"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/notify"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Deps is what the server needs from the rest of the program.
type Deps struct {
	DB     *postgres.DB
	Log    *slog.Logger
	Engine *engine.Engine
	Auth   *auth.Service
	Chain  *audit.Chain
	// Accounts manages organisations and users; Sessions the browsers'.
	Accounts *account.Service
	Sessions *auth.Sessions
	// Calendar is the working-day calendar the engine counts on, with the
	// overrides administrators change.
	Calendar *calendar.Service
	// Notify lists and marks the users' notifications.
	Notify *notify.Service
	// PublicURL is where users reach the server (for reset links); empty
	// means the address the request came to.
	PublicURL string
	// MaxUpload is the largest attachment accepted, in bytes.
	MaxUpload int64
	// RequestTimeout bounds the work of a request (its database calls);
	// past it the answer is 503. Zero means none.
	RequestTimeout time.Duration
	// Pages mounts the browser pages; nil serves the API alone.
	Pages func(*echo.Echo)
}

// Server is the HTTP server.
type Server struct {
	echo      *echo.Echo
	db        *postgres.DB
	log       *slog.Logger
	engine    *engine.Engine
	auth      *auth.Service
	chain     *audit.Chain
	accounts  *account.Service
	sessions  *auth.Sessions
	calendar  *calendar.Service
	notify    *notify.Service
	publicURL string
	maxUpload int64
}

// New builds the server and its routes.
func New(d Deps) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{echo: e, db: d.DB, log: d.Log, engine: d.Engine, auth: d.Auth, chain: d.Chain, accounts: d.Accounts,
		sessions: d.Sessions, calendar: d.Calendar, notify: d.Notify, publicURL: d.PublicURL, maxUpload: d.MaxUpload}
	e.HTTPErrorHandler = s.handleError
	// The peer address as seen on the socket: X-Forwarded-For is the
	// client's to invent, and login throttling counts per address.
	e.IPExtractor = echo.ExtractIPDirect()

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(d.DB.DB.DB, "sciflow"),
	)
	m := newHTTPMetrics(reg)

	e.Use(middleware.RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true,
		LogRequestID: true, LogRemoteIP: true, LogRoutePath: true, LogError: true,
		// Let the error handler write the answer first, so the logged status
		// is the one the client got.
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			m.observe(v.Method, v.RoutePath, v.Status, v.Latency)
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request_id", v.RequestID),
				slog.String("method", v.Method),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Duration("took", v.Latency),
				slog.String("remote", v.RemoteIP),
			)
			return nil
		},
	}))
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	e.Use(requestTimeout(d.RequestTimeout))
	// No request body may exceed the largest upload plus its form overhead;
	// JSON bodies have their own, smaller limit.
	if d.MaxUpload > 0 {
		e.Use(middleware.BodyLimit(strconv.FormatInt(d.MaxUpload+64<<10, 10) + "B"))
	}
	e.Use(refuseUnstorableText)
	if d.Sessions != nil {
		// The sessions live in the database: when it is away, a request
		// with a session cookie gets the API's 503 (a page for a browser),
		// not the session library's bare 500.
		d.Sessions.Manager.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			s.handleError(err, e.NewContext(r, w))
		}
		e.Use(echo.WrapMiddleware(d.Sessions.Manager.LoadAndSave))
	}

	e.GET("/healthz", s.health)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	if d.Engine != nil {
		s.routes(e.Group("/api/v1", s.authenticate))
	}
	if d.Pages != nil {
		d.Pages(e)
	}
	return s
}

// routes are API.md's endpoints; openapi.json describes each one, and a
// test keeps the two in step.
func (s *Server) routes(g *echo.Group) {
	g.GET("/openapi.json", s.openAPI)
	g.POST("/session", s.login)
	g.DELETE("/session", s.logout)
	g.GET("/me", s.me)

	g.GET("/workflows", s.listWorkflows)
	g.GET("/workflows/:key", s.getWorkflow)
	g.GET("/workflows/:key/diagram.svg", s.workflowDiagram)

	g.POST("/applications", s.createApplication)
	g.GET("/applications", s.listApplications)
	g.GET("/applications/:id", s.getApplication)
	g.PATCH("/applications/:id", s.patchApplication)
	g.POST("/applications/:id/events", s.fireEvent)
	g.GET("/applications/:id/history", s.history)
	g.POST("/applications/:id/redact", s.redact)
	g.POST("/applications/:id/attachments", s.uploadAttachment)
	g.GET("/applications/:id/attachments", s.listAttachments)
	g.GET("/attachments/:id", s.downloadAttachment)

	g.GET("/applications/:id/review", s.reviewRecord)
	g.GET("/applications/:id/decision-record", s.decisionRecord)
	g.POST("/applications/:id/reviewers", s.addReviewer)
	g.GET("/applications/:id/questions", s.listQuestions)
	g.POST("/applications/:id/answers", s.answerQuestions)
	g.GET("/tasks", s.listTasks)
	g.GET("/tasks/summary", s.taskSummary)
	g.POST("/tasks/:id/decision", s.decideTask)
	g.POST("/tasks/:id/recuse", s.recuseTask)
	g.POST("/tasks/:id/delegate", s.delegateTask)
	g.POST("/tasks/:id/recall", s.recallTask)
	g.GET("/applications/:id/objections", s.listObjections)
	g.GET("/notices", s.listNotices)
	g.GET("/stats/plan", s.planStats)
	g.POST("/notices/:application_id/objections", s.fileObjection)
	g.GET("/notifications", s.listNotifications)
	g.POST("/notifications/:id/read", s.readNotification)

	g.POST("/registrations", s.register)
	g.POST("/password-reset", s.resetPassword)
	g.GET("/orgs", s.listOrgs)
	g.POST("/orgs", s.createOrg)
	g.GET("/users", s.listUsers)
	g.POST("/users", s.createUser)
	g.PATCH("/users/:id", s.updateUser)
	g.POST("/users/:id/password-reset", s.issueReset)

	g.GET("/calendar/overrides", s.listOverrides)
	g.PUT("/calendar/overrides/:day", s.setOverride)
	g.DELETE("/calendar/overrides/:day", s.deleteOverride)
	g.GET("/calendar/working-days", s.workingDays)

	g.GET("/audit", s.listAudit)
	g.GET("/audit/verify", s.verifyAudit)
	g.GET("/audit/export", s.exportAudit)
	g.GET("/oversight", s.runOversight)
}

// Handler exposes the routes, for tests that use httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // uploads on slow county links
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.echo.Server = srv
	s.echo.Listener = ln
	if err := s.echo.Start(""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.echo.Shutdown(ctx) }

// securityHeaders keeps pages from being framed, sniffed, or made to run
// anything but our own scripts, and keeps URLs (reset links) out of
// Referer headers.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		return next(c)
	}
}

// requestTimeout gives each request's context a deadline, so that a
// request waiting on the database (a full pool, a lock held by a stuck
// transaction, a server that stopped answering) ends with a 503 instead of
// holding its client and its connection. Uploads and exports are left to
// the HTTP server's own read and write limits: their time grows with the
// file and the county's links, not with the database's health.
func requestTimeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if d <= 0 || strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) ||
				strings.HasSuffix(r.URL.Path, "/export") {
				return next(c)
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}

// health answers 200 when the database does, else 503.
func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		s.log.Warn("health check: database does not answer", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sciflow_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sciflow_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) observe(method, route string, status int, took time.Duration) {
	// Route patterns, not raw paths, keep the label set small.
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}
