// Command checkout is a minimal shop backend showing how a Go web app hands
// work to shopq: it imports only shopq's tasks package and asynq.
//
//	go run ./examples/checkout --redis redis://127.0.0.1:6379/0 --addr 127.0.0.1:8081
//	curl -X POST localhost:8081/checkout -d '{"order_id":"1001","email":"zoe@example.test",
//	     "lines":[{"line_id":"1","sku":"MUG-BLU","quantity":2,"unit_amount":1299,"currency":"EUR"}]}'
//
// The order id is the task id, so a customer's double click enqueues one
// order: the second request answers 202 "already queued".
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

func main() {
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL shared with the shopq worker")
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()

	opt, err := asynq.ParseRedisURI(*redisURL)
	if err != nil {
		log.Fatalf("checkout: %v", err)
	}
	client := asynq.NewClient(opt)
	defer func() { _ = client.Close() }()

	srv := &http.Server{Addr: *addr, Handler: NewHandler(client), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("checkout listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// Enqueuer is the part of *asynq.Client the handler needs.
type Enqueuer interface {
	Enqueue(task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// NewHandler serves POST /checkout: the body is an orders:place payload.
func NewHandler(client Enqueuer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /checkout", func(w http.ResponseWriter, r *http.Request) {
		var order tasks.OrderPlacePayload
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := dec.Decode(&order); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
			return
		}
		task, err := tasks.NewOrderPlaceTask(order)
		if err != nil {
			// Names the field at fault, e.g. "lines[0].quantity: must be positive".
			reply(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
			return
		}
		info, err := client.Enqueue(task, asynq.TaskID("order:"+order.OrderID), asynq.Retention(24*time.Hour))
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
			reply(w, http.StatusAccepted, map[string]string{"status": "already queued", "order_id": order.OrderID})
		case err != nil:
			reply(w, http.StatusServiceUnavailable, map[string]string{"error": "queue unavailable, try again"})
		default:
			reply(w, http.StatusAccepted, map[string]string{"status": "queued", "order_id": order.OrderID, "task_id": info.ID})
		}
	})
	return mux
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
