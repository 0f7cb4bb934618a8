package server

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/antimony-ledger/provenance/custody"
	"github.com/antimony-ledger/provenance/record"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	handled  *prometheus.CounterVec   // method, code
	duration *prometheus.HistogramVec // method, code
	inflight *prometheus.GaugeVec     // method
	submits  *prometheus.CounterVec   // outcome
}

// following is what a verifier backend that follows the log tells of it
// (backend.Backend.Following).
type following interface {
	Following() (unread uint64, age time.Duration, aside bool)
	FollowerRunning() bool
}

// followerCollector exports a following backend's gauges, from one call
// of Following per scrape.
type followerCollector struct{ f following }

var (
	flagsUnread = prometheus.NewDesc("provenance_flags_unread_records",
		"Records appended that the flag follower has not replayed yet: flags and listings do not reflect them.", nil, nil)
	flagsUnreadAge = prometheus.NewDesc("provenance_flags_unread_age_seconds",
		"How long ago the log took the oldest record the flag follower has not replayed (by the log's clock); 0 when it has read them all.", nil, nil)
	flagsAside = prometheus.NewDesc("provenance_flags_stepping_aside",
		"1 while the flag follower steps aside for appends that keep the processors busy (--flag-max-lag), else 0.", nil, nil)
	flagsRunning = prometheus.NewDesc("provenance_flags_follower_running",
		"Whether the flag follower runs: 1 while it does (it may still be behind, or stepping aside: see the other provenance_flags_ gauges); 0 with --no-flag-follower, or with the flags' state opened read-only on a nearly full disk (listings then count the records not read).", nil, nil)
)

func (c followerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- flagsUnread
	ch <- flagsUnreadAge
	ch <- flagsAside
	ch <- flagsRunning
}

func (c followerCollector) Collect(ch chan<- prometheus.Metric) {
	unread, age, aside := c.f.Following()
	ch <- prometheus.MustNewConstMetric(flagsUnread, prometheus.GaugeValue, float64(unread))
	ch <- prometheus.MustNewConstMetric(flagsUnreadAge, prometheus.GaugeValue, age.Seconds())
	ch <- prometheus.MustNewConstMetric(flagsAside, prometheus.GaugeValue, oneIf(aside))
	ch <- prometheus.MustNewConstMetric(flagsRunning, prometheus.GaugeValue, oneIf(c.f.FollowerRunning()))
}

// oneIf is a boolean gauge's value.
func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func newMetrics(reg prometheus.Registerer, store *custody.Store, v VerifierBackend) (*metrics, error) {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provenance_grpc_server_handled_total",
			Help: "gRPC calls completed, by full method and status code (REST calls included: the gateway is a gRPC client).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "provenance_grpc_server_handling_seconds",
			Help:    "gRPC call latency, by full method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "code"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "provenance_grpc_server_in_flight",
			Help: "gRPC calls in progress, by full method.",
		}, []string{"method"}),
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provenance_submissions_total",
			Help: "Submitted envelopes by outcome: appended, duplicate, or the rejection kind.",
		}, []string{"outcome"}),
	}
	log := store.Log()
	cs := []prometheus.Collector{
		m.handled, m.duration, m.inflight, m.submits,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provenance_ledger_tree_size",
			Help: "Number of entries in the log (committed tree size).",
		}, func() float64 { return float64(log.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provenance_ledger_free_bytes",
			Help: "Free space last measured (every second) on the ledger's directory; appends are refused under --min-free-bytes.",
		}, func() float64 { free, _, _, _ := log.FreeSpace(); return float64(free) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provenance_ledger_appends_refused_for_space",
			Help: "1 while appends are refused because the ledger's directory has less free space than --min-free-bytes, else 0.",
		}, func() float64 { _, _, refusing, _ := log.FreeSpace(); return oneIf(refusing) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provenance_ledger_damaged",
			Help: "1 once a check of every table block has found the ledger's store damaged (this run, or an earlier one: data/ledger/DAMAGED); appends are refused and /healthz answers 503. Else 0.",
		}, func() float64 { return oneIf(log.Damage() != nil) }),
	}
	if f, ok := v.(following); ok {
		cs = append(cs, followerCollector{f})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method string, start time.Time, err error) {
	code := status.Code(err).String()
	m.handled.WithLabelValues(method, code).Inc()
	m.duration.WithLabelValues(method, code).Observe(time.Since(start).Seconds())
}

func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	g := m.inflight.WithLabelValues(info.FullMethod)
	g.Inc()
	defer g.Dec()
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	g := m.inflight.WithLabelValues(info.FullMethod)
	g.Inc()
	defer g.Dec()
	start := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}

// submitOutcome names the outcome of a submission for the metrics.
func submitOutcome(err error, duplicate bool) string {
	var rej *record.RejectError
	switch {
	case err == nil && duplicate:
		return "duplicate"
	case err == nil:
		return "appended"
	case errors.As(err, &rej):
		return rej.Kind.Error()
	}
	return "error"
}
