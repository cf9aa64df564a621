package app

import (
	"context"
	"fmt"
	"time"

	"github.com/shopq/shopq/config"
	"github.com/shopq/shopq/handlers"
	"github.com/shopq/shopq/internal/catalog"
	"github.com/shopq/shopq/internal/inventory"
	"github.com/shopq/shopq/internal/mailer"
	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/internal/pricing"
)

// wireFamilies builds every task family from the configuration, registers
// it on the mux and sets the admin readers.
func (a *App) wireFamilies(deps handlers.Deps) error {
	cfg := a.Cfg
	now := deps.Now
	if now == nil {
		now = time.Now
	}

	m, err := mailer.New(mailOptions(cfg), a.Store, a.Logger)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	a.closers = append(a.closers, m.Close)

	prices := handlers.NewPrices(deps, pricing.Options{})
	promotions := handlers.NewPromotions(deps, pricing.Options{})
	threshold := cfg.Inventory.LowStockThreshold
	if threshold == 0 {
		threshold = -1 // 0 in the configuration turns alerts off
	}
	inv := handlers.NewInventory(deps, inventory.Options{
		ReservationTTL: cfg.Inventory.ReservationTTL, LowStockThreshold: threshold, Now: deps.Now,
	})

	cat := handlers.NewCatalog(deps, catalog.Options{
		ChunkSize: cfg.Catalog.ChunkSize, MaxFeedBytes: cfg.Catalog.MaxFeedBytes,
		ConnectTimeout: cfg.Catalog.ConnectTimeout, ReadTimeout: cfg.Catalog.ReadTimeout,
		MaxDeactivateShare: cfg.Catalog.MaxDeactivateShare, DefaultCurrency: cfg.Shop.Currency,
		WorkDir: cfg.Catalog.WorkDir,
	})
	ord := handlers.NewOrders(deps, orders.Options{
		Inventory: inventory.Options{
			ReservationTTL: cfg.Inventory.ReservationTTL, LowStockThreshold: threshold, Now: deps.Now,
		},
		Simulation: orders.Simulation{
			Latency:             max(cfg.Orders.Payment.Latency, cfg.Orders.Shipment.Latency),
			PaymentFailureRate:  cfg.Orders.Payment.FailureRate,
			ShipmentFailureRate: cfg.Orders.Shipment.FailureRate,
		},
	})

	handlers.Register(a.mux, cat, prices, promotions, inv, ord, handlers.NewMail(deps, m))

	a.readers.product = func(ctx context.Context, sku string) (any, error) {
		return cat.Catalog().Product(ctx, sku)
	}

	a.readers.price = func(ctx context.Context, sku string) (any, error) {
		return prices.Pricing().Get(ctx, sku, now())
	}
	a.readers.stock = func(ctx context.Context, sku string) (any, error) {
		return inv.Store().Level(ctx, sku)
	}
	return nil
}

func mailOptions(cfg *config.Config) mailer.Options {
	s := cfg.Mail.SMTP
	return mailer.Options{
		Transport:     cfg.Mail.Transport,
		From:          cfg.Mail.From,
		OutboxDir:     cfg.Mail.OutboxDir,
		TemplatesDir:  cfg.Mail.TemplatesDir,
		RatePerSecond: cfg.Mail.RatePerSecond,
		EffectTTL:     cfg.Retention.MailEffects,
		SMTP: mailer.SMTPOptions{
			Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
			TLS: s.TLS, Auth: s.Auth, AllowInsecureAuth: s.AllowInsecureAuth,
			DialTimeout: s.DialTimeout, SendTimeout: s.SendTimeout, PoolSize: s.PoolSize,
		},
	}
}
