package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopq/shopq/tasks"
)

// errNotAmount is wrapped by parseAmount's errors.
var errNotAmount = errors.New("is not a decimal amount")

// parseAmount reads a plain decimal ("12", "12.5", "12.99") into minor units
// of currency. Thousands separators, decimal commas, signs, exponents and
// currency symbols are refused: "12,99€" must not become 1299 or 12.
func parseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("is required")
	}
	minor := tasks.MinorUnits(currency)
	var v int64
	digits, decimals, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot && digits > 0:
			dot = true
		case c >= '0' && c <= '9':
			if dot {
				if decimals >= minor {
					if c != '0' {
						return 0, fmt.Errorf("%q has more than %d decimals for %s", s, minor, currency)
					}
					continue
				}
				decimals++
			}
			digits++
			if v > tasks.MaxAmount {
				return 0, fmt.Errorf("%q is above the limit", s)
			}
			v = v*10 + int64(c-'0')
		default:
			return 0, fmt.Errorf("%q %w", s, errNotAmount)
		}
	}
	if digits == 0 || s[len(s)-1] == '.' {
		return 0, fmt.Errorf("%q %w", s, errNotAmount)
	}
	for ; decimals < minor; decimals++ {
		v *= 10
	}
	if v > tasks.MaxAmount {
		return 0, fmt.Errorf("%q is above the limit", s)
	}
	return v, nil
}

// parseMerchantPrice reads Merchant Center's "15.00 USD"; a price without a
// code is in def.
func parseMerchantPrice(s, def string) (int64, string, error) {
	s = strings.TrimSpace(s)
	cur := def
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		cur = strings.ToUpper(strings.TrimSpace(s[i+1:]))
		s = strings.TrimSpace(s[:i])
		if !tasks.ValidCurrency(cur) {
			return 0, "", fmt.Errorf("currency %q is not an ISO 4217 code", cur)
		}
	}
	if cur == "" {
		return 0, "", errors.New("has no currency and the run has no default currency")
	}
	v, err := parseAmount(s, cur)
	return v, cur, err
}

// parseQuantity reads a non-negative whole number of units.
func parseQuantity(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("is required")
	}
	neg := s[0] == '-'
	if neg || s[0] == '+' {
		s = s[1:]
	}
	if s == "" {
		return 0, errors.New("is not a whole number")
	}
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		v = v*10 + int64(s[i]-'0')
		if v > tasks.MaxQuantity {
			return 0, fmt.Errorf("is above the limit of %d", tasks.MaxQuantity)
		}
	}
	if neg && v != 0 {
		return 0, fmt.Errorf("must not be negative, got -%d", v)
	}
	return v, nil
}

// isoLayouts are the ISO 8601 forms Merchant Center feeds use; every one
// carries a zone offset, because a window without a zone starts hours off.
var isoLayouts = []string{
	time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04-0700", "2006-01-02T15:04:05-0700",
}

func parseInstant(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time with a zone offset", s)
}

// parseInterval reads "start/end" (sale_price_effective_date).
func parseInterval(s string) (time.Time, time.Time, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not an interval start/end", s)
	}
	start, err := parseInstant(a)
	if err != nil {
		return start, start, err
	}
	end, err := parseInstant(b)
	if err != nil {
		return start, end, err
	}
	if !end.After(start) {
		return start, end, fmt.Errorf("%q ends before it starts", s)
	}
	return start, end, nil
}
