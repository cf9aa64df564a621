package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/shopq/shopq/internal/store"
)

// PriceView is a SKU's price as a reader sees it at one instant.
type PriceView struct {
	SKU      string `json:"sku"`
	Currency string `json:"currency"`
	// Base is the list price (Shopify's compare-at price when set).
	Base      int64 `json:"base"`
	Effective int64 `json:"effective"`
	// Source is "base", "sale" or "promotion".
	Source          string         `json:"source"`
	Version         int64          `json:"version"`
	ActivePromotion *PromotionView `json:"active_promotion,omitempty"`
	Sale            *SaleView      `json:"sale,omitempty"`
	// Promotions lists every promotion attached to the SKU, active or not.
	Promotions []PromotionView `json:"promotions,omitempty"`
	AsOf       time.Time       `json:"as_of"`
}

// PromotionView is a promotion as it applies to one SKU.
type PromotionView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Priority int       `json:"priority"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Active   bool      `json:"active"`
	// Price is the promotion's price for the SKU, nil when it has no
	// discount in the SKU's currency.
	Price *int64 `json:"price,omitempty"`
}

// SaleView is the source's sale price.
type SaleView struct {
	Amount   int64      `json:"amount"`
	StartsAt *time.Time `json:"starts_at,omitempty"`
	EndsAt   *time.Time `json:"ends_at,omitempty"`
	Active   bool       `json:"active"`
}

// Effective returns a SKU's effective price at now, computed from the stored
// data (never from the materialised value, which lags until a task runs).
// It returns store.ErrNotFound for a SKU without a price.
func (p *Pricing) Effective(ctx context.Context, sku string, now time.Time) (Quote, error) {
	s, err := p.readOne(ctx, sku)
	if err != nil {
		return Quote{}, err
	}
	return Compute(&s.rec, s.terms, now), nil
}

// Get returns a SKU's price view at now; store.ErrNotFound for a SKU
// without a price.
func (p *Pricing) Get(ctx context.Context, sku string, now time.Time) (PriceView, error) {
	s, err := p.readOne(ctx, sku)
	if err != nil {
		return PriceView{}, err
	}
	r := &s.rec
	q := Compute(r, s.terms, now)
	v := PriceView{
		SKU: sku, Currency: r.Currency, Base: r.Base, Effective: q.Amount, Source: q.Source,
		Version: r.Version, AsOf: now.UTC(),
	}
	if r.Sale != nil {
		v.Sale = &SaleView{Amount: *r.Sale, Active: r.SaleActive(now.UnixMilli()),
			StartsAt: msTime(r.SaleStartMS), EndsAt: msTime(r.SaleEndMS)}
	}
	for i := range s.terms {
		t := &s.terms[i]
		pv := PromotionView{
			ID: t.ID, Name: t.Name, Priority: t.Priority, Active: t.Active(now.UnixMilli()),
			StartsAt: time.UnixMilli(t.StartMS).UTC(), EndsAt: time.UnixMilli(t.EndMS).UTC(),
		}
		if price, ok := t.Price(r.Base, r.Currency); ok {
			pv.Price = &price
		}
		v.Promotions = append(v.Promotions, pv)
		if q.Promotion != nil && q.Promotion.ID == t.ID {
			v.ActivePromotion = &v.Promotions[len(v.Promotions)-1]
		}
	}
	if v.ActivePromotion != nil {
		ap := *v.ActivePromotion
		v.ActivePromotion = &ap
	}
	return v, nil
}

func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

func (p *Pricing) readOne(ctx context.Context, sku string) (snapshot, error) {
	snaps, err := p.read(ctx, []string{sku})
	if err != nil {
		return snapshot{}, err
	}
	if !snaps[0].found {
		return snapshot{}, fmt.Errorf("price of sku %s: %w", sku, store.ErrNotFound)
	}
	return snaps[0], nil
}

// HTTPHandler serves GET .../{sku} with the SKU's PriceView as JSON (mount
// it at "GET /api/v1/prices/{sku}"). now is the clock; nil means time.Now.
func HTTPHandler(p *Pricing, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sku := r.PathValue("sku")
		if sku == "" {
			http.Error(w, "missing sku", http.StatusBadRequest)
			return
		}
		v, err := p.Get(r.Context(), sku, now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			http.Error(w, "unknown sku", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, "price store unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}
