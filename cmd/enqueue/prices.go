package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

func init() {
	subcommands["price-update"] = subcommand{
		usage: "price-update --sku SKU --amount 1999 --currency EUR [--version N] [--sale-amount 1499 " +
			"[--sale-starts-at RFC3339] [--sale-ends-at RFC3339]] [--source NAME]",
		build: func(args []string) (built, error) { return one(priceUpdateCommand(args)) },
	}
	subcommands["promotion"] = subcommand{
		usage: "promotion upsert --id ID --name NAME (--percent 20 | --amount EUR=500 ...) " +
			"[--skus a,b] [--vendors v] [--product-types t] [--tags t] --starts-at T --ends-at T " +
			"[--time-zone Europe/Berlin] [--priority N] [--floor EUR=100 ...] [--version N]\n" +
			"  promotion cancel --id ID",
		build: func(args []string) (built, error) { return one(promotionCommand(args)) },
	}
}

func one(t *asynq.Task, err error) (built, error) {
	if err != nil {
		return built{}, err
	}
	return built{tasks: []*asynq.Task{t}}, nil
}

// priceUpdateCommand builds a prices:update task from flags. Amounts are in
// minor units ("1999" for 19.99 EUR); the version defaults to the current
// Unix microseconds, the unit catalog runs use, so the two order together.
func priceUpdateCommand(args []string) (*asynq.Task, error) {
	fs := flag.NewFlagSet("price-update", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sku := fs.String("sku", "", "SKU")
	amount := fs.String("amount", "", "base price in minor units, e.g. 1999 for 19.99 EUR")
	currency := fs.String("currency", "", "ISO 4217 code")
	version := fs.Int64("version", 0, "version (source timestamp or sequence); default: now in Unix microseconds, as catalog feeds stamp theirs")
	sale := fs.String("sale-amount", "", "optional sale price in minor units")
	saleStart := fs.String("sale-starts-at", "", "sale window start, RFC 3339")
	saleEnd := fs.String("sale-ends-at", "", "sale window end, RFC 3339")
	source := fs.String("source", "cli", "where the price came from")
	if err := fs.Parse(args); err != nil {
		return nil, usagef("price-update: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("price-update: unexpected arguments %v", fs.Args())
	}

	p := tasks.PriceUpdatePayload{
		SKU: *sku, Currency: strings.ToUpper(*currency), Version: *version, Source: *source,
		SaleStartsAt: *saleStart, SaleEndsAt: *saleEnd,
	}
	if p.Version == 0 {
		p.Version = time.Now().UnixMicro()
	}
	var err error
	if p.Amount, err = parseMoney(*amount, p.Currency); err != nil {
		return nil, usagef("price-update: --amount: %v", err)
	}
	if *sale != "" {
		s, err := parseMoney(*sale, p.Currency)
		if err != nil {
			return nil, usagef("price-update: --sale-amount: %v", err)
		}
		p.SaleAmount = &s
	}
	t, err := tasks.NewPriceUpdateTask(p)
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

// promotionCommand builds a promotions:upsert or promotions:cancel task.
func promotionCommand(args []string) (*asynq.Task, error) {
	if len(args) == 0 {
		return nil, usagef("promotion: give upsert or cancel")
	}
	switch args[0] {
	case "upsert":
		return promotionUpsertCommand(args[1:])
	case "cancel":
		fs := flag.NewFlagSet("promotion cancel", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		id := fs.String("id", "", "promotion id")
		if err := fs.Parse(args[1:]); err != nil {
			return nil, usagef("promotion cancel: %v", err)
		}
		t, err := tasks.NewPromotionCancelTask(tasks.PromotionCancelPayload{ID: *id})
		if err != nil {
			return nil, usageError{err}
		}
		return t, nil
	}
	return nil, usagef("promotion: %q is not upsert or cancel", args[0])
}

func promotionUpsertCommand(args []string) (*asynq.Task, error) {
	fs := flag.NewFlagSet("promotion upsert", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var p tasks.PromotionUpsertPayload
	fs.StringVar(&p.ID, "id", "", "promotion id")
	fs.StringVar(&p.Name, "name", "", "name")
	fs.Float64Var(&p.Discount.Percent, "percent", 0, "percent off, e.g. 20 or 12.5")
	amounts := moneyMap{}
	floors := moneyMap{}
	fs.Var(amounts, "amount", "fixed discount CUR=N in minor units; repeat per currency")
	fs.Var(floors, "floor", "price floor CUR=N in minor units; repeat per currency")
	skus := fs.String("skus", "", "comma-separated SKUs")
	vendors := fs.String("vendors", "", "comma-separated vendors")
	types := fs.String("product-types", "", "comma-separated product types")
	tags := fs.String("tags", "", "comma-separated tags")
	fs.StringVar(&p.StartsAt, "starts-at", "", "window start: RFC 3339, local date-time or date")
	fs.StringVar(&p.EndsAt, "ends-at", "", "window end (exclusive; a date includes that day)")
	fs.StringVar(&p.TimeZone, "time-zone", "", "IANA zone of local times; default UTC")
	fs.IntVar(&p.Priority, "priority", 0, "tie-break priority (higher wins)")
	fs.Int64Var(&p.Version, "version", 0, "edit version; default: now in Unix microseconds, as catalog feeds stamp theirs")
	if err := fs.Parse(args); err != nil {
		return nil, usagef("promotion upsert: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("promotion upsert: unexpected arguments %v", fs.Args())
	}

	if p.Version == 0 {
		p.Version = time.Now().UnixMicro()
	}
	p.Target = tasks.Target{SKUs: list(*skus), Vendors: list(*vendors), ProductTypes: list(*types), Tags: list(*tags)}
	if len(amounts) > 0 {
		p.Discount.Amounts = amounts
	}
	if len(floors) > 0 {
		p.FloorAmounts = floors
	}
	t, err := tasks.NewPromotionUpsertTask(p)
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// moneyMap is a repeatable CUR=AMOUNT flag.
type moneyMap map[string]int64

func (m moneyMap) String() string { return fmt.Sprint(map[string]int64(m)) }

func (m moneyMap) Set(v string) error {
	cur, amt, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want CUR=AMOUNT, e.g. EUR=5.00")
	}
	cur = strings.ToUpper(strings.TrimSpace(cur))
	n, err := parseMoney(amt, cur)
	if err != nil {
		return err
	}
	m[cur] = n
	return nil
}

// parseMoney reads an amount in minor units of currency ("1999" is 19.99
// EUR, "1200" is 1200 JPY), as the wire contract carries money. A decimal
// is refused with a hint rather than guessed at.
func parseMoney(v, currency string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, errors.New("is required")
	}
	if !tasks.ValidCurrency(currency) {
		return 0, fmt.Errorf("currency %q is not an ISO 4217 code", currency)
	}
	if strings.ContainsAny(v, ".,") {
		return 0, fmt.Errorf("%q: give minor units of %s (an integer, e.g. 1999 for 19.99 in a two-decimal currency)",
			v, currency)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > tasks.MaxAmount {
		return 0, fmt.Errorf("%q is not a non-negative amount in minor units", v)
	}
	return n, nil
}
