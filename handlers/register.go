package handlers

import (
	"github.com/hibiken/asynq"
)

// Family is one task family's handlers.
type Family interface {
	// Register adds the family's task types to mux.
	Register(mux *asynq.ServeMux)
}

// Register adds every family to mux.
func Register(mux *asynq.ServeMux, families ...Family) {
	for _, f := range families {
		f.Register(mux)
	}
}
