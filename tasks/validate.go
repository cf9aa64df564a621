package tasks

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError names one payload field and what is wrong with it.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Limits that keep absurd values out of the store.
const (
	// MaxQuantity bounds stock counts and order quantities.
	MaxQuantity = 1_000_000_000
	// MaxAmount bounds money amounts in minor units (10^13 = 100 billion in a
	// two-decimal currency).
	MaxAmount = 10_000_000_000_000
	// MaxIDLen bounds SKUs, ids and keys.
	MaxIDLen = 200
)

// checker collects field errors so a payload reports all its problems at once.
type checker struct{ errs []error }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// id checks an identifier: non-empty, bounded, valid UTF-8, no control chars.
func (c *checker) id(field, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		c.add(field, "is required")
	case len(v) > MaxIDLen:
		c.add(field, "is %d bytes, longer than %d", len(v), MaxIDLen)
	case !utf8.ValidString(v):
		c.add(field, "is not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		c.add(field, "contains control characters")
	}
}

func (c *checker) positive(field string, v int64, limit int64) {
	switch {
	case v <= 0:
		c.add(field, "must be positive, got %d", v)
	case v > limit:
		c.add(field, "is %d, above the limit of %d", v, limit)
	}
}

func (c *checker) nonNegative(field string, v int64, limit int64) {
	switch {
	case v < 0:
		c.add(field, "must not be negative, got %d", v)
	case v > limit:
		c.add(field, "is %d, above the limit of %d", v, limit)
	}
}

func (c *checker) currency(field, v string) {
	if !ValidCurrency(v) {
		c.add(field, "%q is not an ISO 4217 currency code", v)
	}
}

func (c *checker) email(field, v string) {
	if v == "" {
		c.add(field, "is required")
		return
	}
	if err := ValidEmail(v); err != nil {
		c.add(field, "%v", err)
	}
}

func (c *checker) timeZone(field, v string) {
	if v == "" {
		return
	}
	if _, err := time.LoadLocation(v); err != nil {
		c.add(field, "%q is not an IANA time zone", v)
	}
}

// ValidEmail checks a single address: "a@b.example" or "Name <a@b.example>".
func ValidEmail(v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return fmt.Errorf("%q is not a valid address", v)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return fmt.Errorf("%q is not a valid address", v)
	}
	return nil
}

// currencies is ISO 4217's list of active codes.
var currencies = func() map[string]bool {
	const codes = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD " +
		"BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP " +
		"GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR " +
		"KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN " +
		"MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR " +
		"SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD " +
		"UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"
	m := map[string]bool{}
	for _, c := range strings.Fields(codes) {
		m[c] = true
	}
	return m
}()

// ValidCurrency reports whether code is an active ISO 4217 code.
func ValidCurrency(code string) bool { return currencies[code] }

// MinorUnits returns the number of decimals of a currency's minor unit
// (2 for EUR, 0 for JPY, 3 for KWD).
func MinorUnits(code string) int {
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
		"XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}
