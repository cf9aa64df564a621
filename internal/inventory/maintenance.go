package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// scanSKUs calls fn for every SKU with stock, in batches.
func (inv *Inventory) scanSKUs(ctx context.Context, fn func(sku string) error) error {
	var cursor uint64
	for {
		skus, next, err := inv.st.RDB.SScan(ctx, inv.SKUsKey(), cursor, "", 500).Result()
		if err != nil {
			return fmt.Errorf("scan skus: %w", err)
		}
		for _, sku := range skus {
			if err := fn(sku); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// ExpireSKU releases sku's reservations whose expiry has passed and returns
// their outcomes (each with its own low-stock and back-in-stock events). It
// also drops ledger index entries older than the record lifetime.
func (inv *Inventory) ExpireSKU(ctx context.Context, sku string) ([]Outcome, error) {
	nowMS := inv.opts.Now().UnixMilli()
	oldest := strconv.FormatInt(nowMS-inv.st.Lifetimes.Ledger.Milliseconds(), 10)
	err := inv.st.RDB.ZRemRangeByScore(ctx, inv.st.TagKey("sku", sku, "ledger"), "-inf", "("+oldest).Err()
	if err != nil {
		return nil, fmt.Errorf("expire %s: trim ledger index: %w", sku, err)
	}
	ops, err := inv.st.RDB.ZRangeByScore(ctx, inv.st.TagKey("sku", sku, "expiry"),
		&redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(nowMS, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("expire %s: %w", sku, err)
	}
	var outs []Outcome
	for _, op := range ops {
		out, err := inv.run(ctx, "expire", sku, op, 0, "")
		if err != nil {
			return outs, err
		}
		if out.Applied && !out.Duplicate {
			outs = append(outs, out)
		}
	}
	return outs, nil
}

// Sweep releases every expired reservation. fn is called with each
// released reservation's outcome; checked counts the SKUs looked at.
func (inv *Inventory) Sweep(ctx context.Context, fn func(Outcome) error) (checked int, err error) {
	err = inv.scanSKUs(ctx, func(sku string) error {
		checked++
		outs, err := inv.ExpireSKU(ctx, sku)
		if err != nil {
			return err
		}
		for _, o := range outs {
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	})
	return checked, err
}

// Drift describes one SKU's counts against its ledger.
type Drift struct {
	SKU            string `json:"sku"`
	OnHand         int64  `json:"on_hand"`
	Reserved       int64  `json:"reserved"`
	LedgerOnHand   int64  `json:"ledger_on_hand"`
	LedgerReserved int64  `json:"ledger_reserved"`
	// Held is the sum of the quantities of outstanding reservations.
	Held int64 `json:"held"`
}

// Drifted reports whether the counts differ from the ledger sums or from
// the outstanding reservations.
func (d Drift) Drifted() bool {
	return d.OnHand != d.LedgerOnHand || d.Reserved != d.LedgerReserved || d.Reserved != d.Held
}

// ReconcileSKU reads sku's counts, ledger sums and outstanding reservations
// in one step.
func (inv *Inventory) ReconcileSKU(ctx context.Context, sku string) (Drift, error) {
	keys := []string{inv.stockKey(sku), inv.st.TagKey("sku", sku, "held")}
	v, err := reconcileScript.Run(ctx, inv.st.RDB, keys).Int64Slice()
	if err != nil {
		return Drift{}, fmt.Errorf("reconcile %s: %w", sku, err)
	}
	return Drift{SKU: sku, OnHand: v[0], Reserved: v[1], LedgerOnHand: v[2], LedgerReserved: v[3], Held: v[4]}, nil
}

// Reconcile checks every SKU and calls fn for each one that drifted.
func (inv *Inventory) Reconcile(ctx context.Context, fn func(Drift)) (checked int, err error) {
	err = inv.scanSKUs(ctx, func(sku string) error {
		checked++
		d, err := inv.ReconcileSKU(ctx, sku)
		if err != nil {
			return err
		}
		if d.Drifted() {
			fn(d)
		}
		return nil
	})
	return checked, err
}

// LedgerSum adds up the kept ledger entries of sku (entries older than the
// record lifetime are gone; Reconcile uses the running sums instead). It is
// for audits and tests.
func (inv *Inventory) LedgerSum(ctx context.Context, sku string) (onHand, reserved int64, err error) {
	ops, err := inv.st.RDB.ZRange(ctx, inv.st.TagKey("sku", sku, "ledger"), 0, -1).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("ledger %s: %w", sku, err)
	}
	for _, op := range ops {
		rec, err := inv.st.RDB.HGetAll(ctx, inv.opKey(sku, op)).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("ledger %s: %w", sku, err)
		}
		for _, action := range []string{"set", "adjust", "reserve", "commit", "release", "expire"} {
			raw, ok := rec[action]
			if !ok {
				continue
			}
			var o Outcome
			if err := json.Unmarshal([]byte(raw), &o); err != nil {
				return 0, 0, fmt.Errorf("ledger %s: entry %s: %w", sku, op, err)
			}
			onHand += o.LedgerOnHand
			reserved += o.LedgerReserved
		}
	}
	return onHand, reserved, nil
}
