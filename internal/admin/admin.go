// Package admin serves the worker's admin HTTP endpoints: health, readiness,
// metrics, read-only JSON views of the store, and the web UI.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/shopq/shopq/internal/store"
)

// ReadFunc returns the JSON view of one SKU, or store.ErrNotFound.
type ReadFunc func(ctx context.Context, sku string) (any, error)

// Options configures the handler.
type Options struct {
	// Ping checks Redis for /readyz.
	Ping func(ctx context.Context) error
	// Product, Stock and Price serve /api/v1/{products,stock,prices}/{sku};
	// a nil func answers 404.
	Product, Stock, Price ReadFunc
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// UI serves /ui/; nil leaves it out.
	UI     http.Handler
	Logger *slog.Logger
}

// Handler returns the admin HTTP handler.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if o.Ping != nil {
			if err := o.Ping(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "redis: " + err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /api/v1/products/{sku}", read(o.Product, "product", o.Logger))
	mux.Handle("GET /api/v1/stock/{sku}", read(o.Stock, "stock", o.Logger))
	mux.Handle("GET /api/v1/prices/{sku}", read(o.Price, "price", o.Logger))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
	})
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	if o.UI != nil {
		mux.Handle("/ui/", o.UI)
		mux.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	}
	return mux
}

func read(f ReadFunc, what string, l *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sku := r.PathValue("sku")
		if f == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": what + " data is not served by this worker"})
			return
		}
		v, err := f(r.Context(), sku)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown sku", "sku": sku})
		case err != nil:
			if l != nil {
				l.Error("admin read failed", slog.String("what", what), slog.String("sku", sku), slog.String("error", err.Error()))
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable"})
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
