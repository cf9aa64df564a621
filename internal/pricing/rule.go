package pricing

import (
	"math"
	"time"

	"github.com/shopq/shopq/tasks"
)

// Sources of an effective price.
const (
	SourceBase      = "base"
	SourceSale      = "sale"
	SourcePromotion = "promotion"
)

// Term is one promotion's discount as attached to one SKU: everything the
// price rule needs, so a reader computes the effective price from the SKU's
// own keys.
type Term struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// BasisPoints is a percentage discount in hundredths of a percent
	// (2000 = 20 %); zero for a fixed discount.
	BasisPoints int64 `json:"bp,omitempty"`
	// Amounts are fixed discounts per currency, in minor units.
	Amounts map[string]int64 `json:"amt,omitempty"`
	// Floors bound the resulting price from below, per currency.
	Floors map[string]int64 `json:"floor,omitempty"`
	// StartMS and EndMS bound the window [StartMS, EndMS) in Unix ms.
	StartMS  int64 `json:"s"`
	EndMS    int64 `json:"e"`
	Priority int   `json:"prio"`
}

// TermFromPayload builds the term of a promotion.
func TermFromPayload(p *tasks.PromotionUpsertPayload) (Term, error) {
	start, end, err := p.Window()
	if err != nil {
		return Term{}, err
	}
	return Term{
		ID: p.ID, Name: p.Name,
		BasisPoints: int64(math.Round(p.Discount.Percent * 100)),
		Amounts:     p.Discount.Amounts, Floors: p.FloorAmounts,
		StartMS: start.UnixMilli(), EndMS: end.UnixMilli(), Priority: p.Priority,
	}, nil
}

// Active reports whether the window holds the instant nowMS.
func (t *Term) Active(nowMS int64) bool { return t.StartMS <= nowMS && nowMS < t.EndMS }

// Price returns the term's price for a base price in currency; ok is false
// when the term has no discount for that currency. A percentage discount is
// rounded half up to the minor unit (12.5 % of 1.99 EUR is 0.25 EUR off);
// the result never drops below the term's floor (unless base already is
// below it: a discount never raises a price) nor below zero.
func (t *Term) Price(base int64, currency string) (price int64, ok bool) {
	var off int64
	if t.BasisPoints > 0 {
		off = (base*t.BasisPoints + 5000) / 10000
	} else {
		a, found := t.Amounts[currency]
		if !found {
			return 0, false
		}
		off = a
	}
	price = base - off
	if f, found := t.Floors[currency]; found && price < f {
		price = min(f, base)
	}
	return max(price, 0), true
}

// Record is a SKU's stored price data.
type Record struct {
	SKU      string
	Currency string
	Base     int64
	Version  int64
	// Sale is the source's sale price, nil when none.
	Sale *int64
	// SaleStartMS and SaleEndMS bound the sale window in Unix ms; 0 = open.
	SaleStartMS, SaleEndMS int64
	Source                 string
}

// SaleActive reports whether the record's sale price applies at nowMS.
func (r *Record) SaleActive(nowMS int64) bool {
	return r.Sale != nil && (r.SaleStartMS == 0 || r.SaleStartMS <= nowMS) &&
		(r.SaleEndMS == 0 || nowMS < r.SaleEndMS)
}

// Quote is an effective price and where it comes from.
type Quote struct {
	Amount   int64
	Currency string
	// Source is SourceBase, SourceSale or SourcePromotion.
	Source string
	// Promotion is the winning promotion's term when Source is
	// SourcePromotion.
	Promotion *Term
}

// PromotionID returns the winning promotion's id, or "".
func (q Quote) PromotionID() string {
	if q.Promotion == nil {
		return ""
	}
	return q.Promotion.ID
}

// Compute applies the price rule at now:
//
//   - candidates are the base price, the sale price when its window holds
//     now, and each promotion whose window [start, end) holds now and that
//     has a discount for the SKU's currency, computed from the base price
//     (discounts do not stack);
//   - the lowest candidate wins;
//   - on a tie a promotion beats the sale price, which beats the base
//     price; between promotions the higher priority wins, then the lower id.
func Compute(r *Record, terms []Term, now time.Time) Quote {
	nowMS := now.UnixMilli()
	q := Quote{Amount: r.Base, Currency: r.Currency, Source: SourceBase}
	if r.SaleActive(nowMS) && *r.Sale <= q.Amount {
		q.Amount, q.Source = *r.Sale, SourceSale
	}
	for i := range terms {
		t := &terms[i]
		if !t.Active(nowMS) {
			continue
		}
		price, ok := t.Price(r.Base, r.Currency)
		if !ok || price > q.Amount {
			continue
		}
		if price == q.Amount && q.Promotion != nil && !t.beats(q.Promotion) {
			continue
		}
		q.Amount, q.Source, q.Promotion = price, SourcePromotion, t
	}
	return q
}

// beats breaks a price tie between two promotions.
func (t *Term) beats(o *Term) bool {
	if t.Priority != o.Priority {
		return t.Priority > o.Priority
	}
	return t.ID < o.ID
}
