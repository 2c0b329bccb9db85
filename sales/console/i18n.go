package console

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Locale is one language of the console: its message catalogue
// (messages.go) and how it writes dates.
type Locale struct {
	Code string // zh-CN, en
	msgs map[string]string
}

var locales = map[string]*Locale{
	"zh-CN": {Code: "zh-CN", msgs: messagesZH},
	"en":    {Code: "en", msgs: messagesEN},
}

// locale returns the named locale, Chinese for anything unknown.
func locale(code string) *Locale {
	if l, ok := locales[code]; ok {
		return l
	}
	return locales["zh-CN"]
}

// T is the message key in this language, formatted with args. A key
// missing from the catalogue shows as itself (the catalogue test makes
// sure none is).
func (l *Locale) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Lookup is T without formatting; ok is false when the key is missing.
func (l *Locale) Lookup(key string) (string, bool) {
	m, ok := l.msgs[key]
	return m, ok
}

// Other is the language to offer switching to.
func (l *Locale) Other() string {
	if l.Code == "en" {
		return "zh-CN"
	}
	return "en"
}

// currencies: symbol and minor digits of the currencies parks use.
var currencies = map[string]struct {
	sym    string
	digits int
}{
	"CNY": {"¥", 2}, "HKD": {"HK$", 2}, "USD": {"$", 2}, "EUR": {"€", 2}, "GBP": {"£", 2},
	"JPY": {"¥", 0}, "KRW": {"₩", 0}, "TWD": {"NT$", 2}, "SGD": {"S$", 2},
}

func digitsOf(currency string) int {
	if c, ok := currencies[currency]; ok {
		return c.digits
	}
	return 2
}

// Money writes an amount in minor units (int64, never a float) in its
// currency: ¥180.00.
func Money(minor int64, currency string) string {
	c, ok := currencies[currency]
	if !ok {
		c.sym, c.digits = currency+" ", 2
	}
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if c.digits > 0 {
		for len(s) <= c.digits {
			s = "0" + s
		}
		s = s[:len(s)-c.digits] + "." + s[len(s)-c.digits:]
	}
	if neg {
		return "-" + c.sym + s
	}
	return c.sym + s
}

// PlainAmount is minor units as a decimal without symbol: 180.00.
func PlainAmount(minor int64, currency string) string {
	d := digitsOf(currency)
	s := strconv.FormatInt(minor, 10)
	if d == 0 {
		return s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

var errAmount = errors.New("not an amount")

// ParseMoney reads an amount typed by a cashier ("200", "200.5", "¥200.00")
// into minor units of currency. No floats: the digits are read as text.
func ParseMoney(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if c, ok := currencies[currency]; ok {
		s = strings.TrimPrefix(s, c.sym)
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" || len(s) > 24 {
		return 0, errAmount
	}
	d := digitsOf(currency)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, errAmount
	}
	if len(frac) > d || (hasDot && d == 0) {
		return 0, errAmount
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, errAmount
		}
	}
	for len(frac) < d {
		frac += "0"
	}
	if len(whole+frac) > 18 { // int64 holds any 18 digits
		return 0, errAmount
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, errAmount
	}
	return n, nil
}

// DateTime writes t in loc (the park's zone) the way this language does.
func (l *Locale) DateTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	if l.Code == "en" {
		return t.Format("2 Jan 2006 15:04")
	}
	return t.Format("2006年1月2日 15:04")
}

// Date writes a park day given as YYYY-MM-DD.
func (l *Locale) Date(day string) string {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	if l.Code == "en" {
		return d.Format("Mon 2 Jan 2006")
	}
	return d.Format("2006年1月2日") + " " + []string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}[d.Weekday()]
}

// Clock writes the time of day of t in loc.
func (l *Locale) Clock(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("15:04:05")
}

// Or is the message prefix+key, or key itself when the catalogue has none
// (a reason code from a newer gate, say).
func (l *Locale) Or(prefix, key string) string {
	if m, ok := l.msgs[prefix+key]; ok {
		return m
	}
	return key
}
