package orders

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

// ReplayColumns are the columns of the online-retail CSV format.
var ReplayColumns = []string{
	"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
}

// DefaultNonProductCodes are the stock codes of lines that are no product:
// postage, discounts, manual adjustments, fees, charity, samples.
var DefaultNonProductCodes = []string{
	"POST", "D", "M", "DOT", "BANK CHARGES", "C2", "PADS", "AMAZONFEE", "CRUK", "S", "B",
}

// ReplayOptions configure PlanReplay.
type ReplayOptions struct {
	// SeedStock, when positive, first sets every product SKU of the file to
	// this on-hand count (one inventory:set each, before any order).
	SeedStock int64
	// SeedVersion is the version of the seeding sets. Default: 1.
	SeedVersion int64
	// Prefix starts every order id and operation id, so a file can be
	// replayed again as new orders. Default: none.
	Prefix string
	// Currency of the prices. Default: GBP.
	Currency string
	// Location of the file's dates. Default: Europe/London.
	Location *time.Location
	// NonProduct lists the stock codes skipped as no product. Default:
	// DefaultNonProductCodes. Codes not starting with a digit are skipped
	// too.
	NonProduct []string
	// TaskOptions are added to every task (a queue, a retention).
	TaskOptions []asynq.Option
}

// LineError is one line of the file that could not be used.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ReplaySummary accounts for every line and every invoice of a file.
// Invoices = Orders + Cancellations + WriteOffs + NonProductOnly + BadOnly.
type ReplaySummary struct {
	// Lines counts the data lines (the header not included).
	Lines    int `json:"lines"`
	Invoices int `json:"invoices"`

	// Invoice kinds.
	Orders         int `json:"orders"`
	Cancellations  int `json:"cancellations"`
	WriteOffs      int `json:"write_offs"`
	NonProductOnly int `json:"non_product_only"`
	BadOnly        int `json:"bad_only"`

	// CancelledOrders counts cancellations of an order in the file
	// (orders:cancel); Returns those restocked as returns.
	CancelledOrders int `json:"cancelled_orders"`
	Returns         int `json:"returns"`

	// Line kinds.
	OrderLines     int `json:"order_lines"`
	ReturnLines    int `json:"return_lines"`
	WriteOffLines  int `json:"write_off_lines"`
	ZeroPriceLines int `json:"zero_price_lines"`
	// Skipped counts non-product lines per stock code.
	Skipped map[string]int `json:"skipped"`
	Bad     []LineError    `json:"bad,omitempty"`

	// SKUs counts the distinct product stock codes; SeedTasks the
	// inventory:set tasks of Plan.Seed, Tasks those of Plan.Tasks.
	SKUs      int `json:"skus"`
	SeedTasks int `json:"seed_tasks"`
	Tasks     int `json:"tasks"`
}

// Plan is a replay: the tasks in the order to enqueue them, and the summary.
//
// Note: the Seed tasks must have completed before Tasks are enqueued; an
// order reserving a SKU whose seed has not run yet is refused (unknown sku).
type Plan struct {
	// Seed holds one inventory:set per product SKU (with SeedStock > 0).
	Seed []*asynq.Task
	// Tasks holds the orders, cancellations, returns and write-offs in the
	// order of the invoices' first lines.
	Tasks   []*asynq.Task
	Summary ReplaySummary
}

// Line states in replayLine.
const (
	lineProduct = iota
	lineSkipped
	lineBad
)

type replayLine struct {
	state    int
	line     int
	invoice  string
	code     string
	desc     string
	qty      int64
	price    int64
	placed   time.Time
	customer string
}

type invoice struct {
	id       string
	orders   []replayLine
	returns  []replayLine
	writeOff []replayLine
	skipped  int
}

// PlanReplay reads an online-retail CSV file and plans its replay. The
// rules (docs/replay.md):
//
//   - An invoice with product lines of positive quantity is one order
//     (orders:place), one line_id "L<file line>" per line.
//   - An invoice starting with C is a cancellation. If the invoice it
//     cancels (the number without C) is an order in the file, it becomes
//     orders:cancel of that order; otherwise each line restocks its
//     quantity as a return (inventory:adjust, reason return).
//   - A negative quantity outside a cancellation is a stock write-off
//     (inventory:adjust, reason write_off), not an order.
//   - Non-product stock codes are skipped and counted per code; stock
//     codes are case-sensitive as given; prices are GBP.
//   - Customer mail is customer-<CustomerID>@example.test, or
//     guest-<invoice>@example.test when CustomerID is empty.
//   - Lines that cannot be read are reported with their line number; the
//     rest of their invoice is used.
func PlanReplay(r io.Reader, opts ReplayOptions) (Plan, error) {
	opts.defaults()
	lines, sum, err := readReplay(r, opts)
	if err != nil {
		return Plan{}, err
	}
	invoices, order := groupInvoices(lines, &sum, opts)

	var plan Plan
	plan.Summary = sum
	if err := plan.seed(lines, opts); err != nil {
		return Plan{}, err
	}
	for _, id := range order {
		if err := plan.invoice(invoices[id], invoices, opts); err != nil {
			return Plan{}, err
		}
	}
	plan.Summary.Tasks = len(plan.Tasks)
	return plan, nil
}

func (o *ReplayOptions) defaults() {
	if o.SeedVersion <= 0 {
		o.SeedVersion = 1
	}
	if o.Currency == "" {
		o.Currency = "GBP"
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			loc = time.UTC
		}
		o.Location = loc
	}
	if o.NonProduct == nil {
		o.NonProduct = DefaultNonProductCodes
	}
}

// NonProduct reports whether code is no product under opts.
func (o *ReplayOptions) nonProduct(code string) bool {
	return slices.Contains(o.NonProduct, code) || code[0] < '0' || code[0] > '9'
}

// readReplay parses the file. Non-product and bad lines are counted in the
// summary and kept with their state, so their invoice is still accounted
// for.
func readReplay(r io.Reader, opts ReplayOptions) ([]replayLine, ReplaySummary, error) {
	sum := ReplaySummary{Skipped: map[string]int{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, sum, fmt.Errorf("replay: read header: %w", err)
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff")
	}
	if !slices.Equal(head, ReplayColumns) {
		return nil, sum, fmt.Errorf("replay: header is %q, want %q", head, ReplayColumns)
	}

	var out []replayLine
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			sum.Lines++
			sum.Bad = append(sum.Bad, LineError{Line: pe.StartLine, Reason: pe.Err.Error()})
			continue
		}
		if err != nil {
			return nil, sum, fmt.Errorf("replay: %w", err)
		}
		sum.Lines++
		line, _ := cr.FieldPos(0)
		l, reason := parseReplayLine(rec, line, opts)
		switch {
		case reason != "":
			sum.Bad = append(sum.Bad, LineError{Line: line, Reason: reason})
			if len(rec) > 0 && rec[0] != "" {
				out = append(out, replayLine{state: lineBad, line: line, invoice: rec[0]})
			}
		case opts.nonProduct(l.code):
			sum.Skipped[l.code]++
			l.state = lineSkipped
			out = append(out, l)
		default:
			out = append(out, l)
		}
	}
	return out, sum, nil
}

// parseReplayLine reads one record; a non-empty reason says why it is bad.
func parseReplayLine(rec []string, line int, opts ReplayOptions) (replayLine, string) {
	if len(rec) != len(ReplayColumns) {
		return replayLine{}, fmt.Sprintf("has %d fields, want %d", len(rec), len(ReplayColumns))
	}
	l := replayLine{line: line, invoice: rec[0], code: rec[1], desc: strings.TrimSpace(rec[2]), customer: rec[6]}
	if l.invoice == "" {
		return l, "empty InvoiceNo"
	}
	if l.code == "" {
		return l, "empty StockCode"
	}
	qty, err := strconv.ParseInt(rec[3], 10, 64)
	switch {
	case err != nil:
		return l, fmt.Sprintf("Quantity %q is not an integer", rec[3])
	case qty == 0:
		return l, "Quantity is zero"
	case qty > tasks.MaxQuantity || qty < -tasks.MaxQuantity:
		return l, fmt.Sprintf("Quantity %d is out of range", qty)
	case strings.HasPrefix(l.invoice, "C") && qty > 0:
		return l, "positive Quantity in a cancellation"
	}
	l.qty = qty
	if l.price, err = parsePrice(rec[5]); err != nil {
		return l, err.Error()
	}
	if l.placed, err = time.ParseInLocation("1/2/2006 15:04", rec[4], opts.Location); err != nil {
		return l, fmt.Sprintf("InvoiceDate %q is not M/D/YYYY H:MM", rec[4])
	}
	if _, err := strconv.ParseUint(l.customer, 10, 64); l.customer != "" && err != nil {
		return l, fmt.Sprintf("CustomerID %q is not a number", l.customer)
	}
	return l, ""
}

// parsePrice turns "2.55" into 255 minor units; more than two decimals are
// rounded half up.
func parsePrice(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	bad := fmt.Errorf("UnitPrice %q is not a non-negative decimal", s)
	if whole == "" || strings.ContainsAny(whole+frac, "+-") {
		return 0, bad
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > tasks.MaxAmount/100 {
		return 0, bad
	}
	cents := int64(0)
	if frac != "" {
		digits := (frac + "00")[:2]
		c, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, bad
		}
		if _, err := strconv.ParseUint(frac, 10, 64); err != nil {
			return 0, bad
		}
		cents = c
		if len(frac) > 2 && frac[2] >= '5' {
			cents++
		}
	}
	return w*100 + cents, nil
}

// groupInvoices sorts lines into invoices (in order of first appearance)
// and counts lines by kind.
func groupInvoices(lines []replayLine, sum *ReplaySummary, opts ReplayOptions) (map[string]*invoice, []string) {
	invoices := map[string]*invoice{}
	var order []string
	for _, l := range lines {
		inv := invoices[l.invoice]
		if inv == nil {
			inv = &invoice{id: l.invoice}
			invoices[l.invoice] = inv
			order = append(order, l.invoice)
		}
		switch {
		case l.state == lineBad:
		case l.state == lineSkipped:
			inv.skipped++
		case strings.HasPrefix(l.invoice, "C"):
			inv.returns = append(inv.returns, l)
		case l.qty > 0:
			inv.orders = append(inv.orders, l)
			if l.price == 0 {
				sum.ZeroPriceLines++
			}
		default:
			inv.writeOff = append(inv.writeOff, l)
		}
	}
	sum.Invoices = len(order)
	return invoices, order
}

func (p *Plan) add(t *asynq.Task, err error) error {
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	p.Tasks = append(p.Tasks, t)
	return nil
}

// seed adds one inventory:set per product SKU, in order of first appearance.
func (p *Plan) seed(lines []replayLine, opts ReplayOptions) error {
	seen := map[string]bool{}
	for _, l := range lines {
		if l.state != lineProduct || seen[l.code] {
			continue
		}
		seen[l.code] = true
		if opts.SeedStock <= 0 {
			continue
		}
		t, err := tasks.NewInventorySetTask(tasks.InventorySetPayload{
			SKU: l.code, OnHand: opts.SeedStock, Version: opts.SeedVersion,
			OperationID: opts.Prefix + "replay-seed:" + l.code,
		}, opts.TaskOptions...)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		p.Seed = append(p.Seed, t)
		p.Summary.SeedTasks++
	}
	p.Summary.SKUs = len(seen)
	return nil
}

// invoice adds the tasks of one invoice and counts it by kind.
func (p *Plan) invoice(inv *invoice, all map[string]*invoice, opts ReplayOptions) error {
	s := &p.Summary
	switch {
	case len(inv.returns) > 0:
		s.Cancellations++
		s.ReturnLines += len(inv.returns)
		if orig := all[strings.TrimPrefix(inv.id, "C")]; orig != nil && len(orig.orders) > 0 {
			s.CancelledOrders++
			return p.add(tasks.NewOrderCancelTask(tasks.OrderCancelPayload{
				OrderID: opts.Prefix + orig.id, Reason: "cancellation invoice " + inv.id,
			}, opts.TaskOptions...))
		}
		s.Returns++
		for _, l := range inv.returns {
			err := p.add(tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
				SKU: l.code, Delta: -l.qty, Reason: tasks.ReasonReturn, OperationID: lineOpID(opts, l),
			}, opts.TaskOptions...))
			if err != nil {
				return err
			}
		}
		return nil
	case len(inv.orders) > 0:
		t, err := tasks.NewOrderPlaceTask(orderPayload(inv, opts), opts.TaskOptions...)
		if err != nil {
			// Only an invoice beyond the contract's limits gets here.
			s.BadOnly++
			s.Bad = append(s.Bad, LineError{Line: inv.orders[0].line, Reason: "invoice " + inv.id + ": " + err.Error()})
			break
		}
		s.Orders++
		s.OrderLines += len(inv.orders)
		p.Tasks = append(p.Tasks, t)
	case len(inv.writeOff) > 0:
		s.WriteOffs++
	case inv.skipped > 0:
		s.NonProductOnly++
	default:
		s.BadOnly++
	}
	s.WriteOffLines += len(inv.writeOff)
	for _, l := range inv.writeOff {
		err := p.add(tasks.NewInventoryAdjustTask(tasks.InventoryAdjustPayload{
			SKU: l.code, Delta: l.qty, Reason: tasks.ReasonWriteOff, OperationID: lineOpID(opts, l),
		}, opts.TaskOptions...))
		if err != nil {
			return err
		}
	}
	return nil
}

func lineOpID(opts ReplayOptions, l replayLine) string {
	return opts.Prefix + l.invoice + "/L" + strconv.Itoa(l.line)
}

func orderPayload(inv *invoice, opts ReplayOptions) tasks.OrderPlacePayload {
	first := inv.orders[0]
	email := "guest-" + opts.Prefix + inv.id + "@example.test"
	if first.customer != "" {
		email = "customer-" + first.customer + "@example.test"
	}
	p := tasks.OrderPlacePayload{
		OrderID: opts.Prefix + inv.id, Email: email, PlacedAt: first.placed.Format(time.RFC3339),
	}
	for _, l := range inv.orders {
		p.Lines = append(p.Lines, tasks.OrderLine{
			LineID: "L" + strconv.Itoa(l.line), SKU: l.code, Quantity: l.qty, UnitAmount: l.price,
			Currency: opts.Currency, Description: l.desc,
		})
	}
	return p
}
