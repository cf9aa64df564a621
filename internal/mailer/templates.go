package mailer

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"math"
	"math/big"
	"os"
	"path"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/shopq/shopq/tasks"
)

//go:embed templates
var embedded embed.FS

// Template file names inside templates/<name>/.
const (
	subjectFile = "subject.txt"
	textFile    = "body.txt"
	htmlFile    = "body.html"
)

// Rendered is one mail's content.
type Rendered struct {
	// Template is the name the mail was rendered from; it travels in the
	// X-Shopq-Template header so operators can sort an outbox.
	Template string
	Subject  string
	Text     string
	HTML     string
}

// Templates holds the parsed templates by name.
type Templates struct {
	byName map[string]*mailTemplate
}

type mailTemplate struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// LoadTemplates parses every template of tasks.MailTemplates: the embedded
// files, each replaced by the file of the same path under dir when dir is
// not empty and has it. Every template must parse, so a broken override
// fails at start, not on the first mail.
func LoadTemplates(dir string) (*Templates, error) {
	sub, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	src := layered{top: nil, base: sub}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("templates dir: %w", err)
		}
		src.top = os.DirFS(dir)
	}

	t := &Templates{byName: map[string]*mailTemplate{}}
	var errs []error
	for _, name := range tasks.MailTemplates {
		mt, err := parseTemplate(src, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.byName[name] = mt
	}
	return t, errors.Join(errs...)
}

// layered reads a file from top when it has it, else from base.
type layered struct{ top, base fs.FS }

func (l layered) read(name string) ([]byte, error) {
	if l.top != nil {
		b, err := fs.ReadFile(l.top, name)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return fs.ReadFile(l.base, name)
}

func parseTemplate(src layered, name string) (*mailTemplate, error) {
	read := func(file string) (string, error) {
		b, err := src.read(path.Join(name, file))
		if err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
		return string(b), nil
	}
	subj, err := read(subjectFile)
	if err != nil {
		return nil, err
	}
	text, err := read(textFile)
	if err != nil {
		return nil, err
	}
	html, err := read(htmlFile)
	if err != nil {
		return nil, err
	}

	mt := &mailTemplate{}
	if mt.subject, err = texttemplate.New(name + "/" + subjectFile).Funcs(funcs).Option("missingkey=error").Parse(subj); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	if mt.text, err = texttemplate.New(name + "/" + textFile).Funcs(funcs).Option("missingkey=error").Parse(text); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	if mt.html, err = htmltemplate.New(name + "/" + htmlFile).Funcs(funcs).Option("missingkey=error").Parse(html); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return mt, nil
}

// Render renders template name with data. A missing template or a key the
// template needs but data lacks is an ErrTemplate error: permanent, since
// the same payload will fail the same way.
func (t *Templates) Render(name string, data map[string]any) (Rendered, error) {
	mt, ok := t.byName[name]
	if !ok {
		return Rendered{}, fmt.Errorf("%w %q: unknown", ErrTemplate, name)
	}
	if data == nil {
		data = map[string]any{}
	}

	r := Rendered{Template: name}
	var b bytes.Buffer
	if err := mt.subject.Execute(&b, data); err != nil {
		return r, fmt.Errorf("%w %s subject: %w", ErrTemplate, name, err)
	}
	// A subject is one line: fold template line breaks and runs of space.
	r.Subject = strings.Join(strings.Fields(b.String()), " ")

	b.Reset()
	if err := mt.text.Execute(&b, data); err != nil {
		return r, fmt.Errorf("%w %s text: %w", ErrTemplate, name, err)
	}
	r.Text = b.String()

	b.Reset()
	if err := mt.html.Execute(&b, data); err != nil {
		return r, fmt.Errorf("%w %s html: %w", ErrTemplate, name, err)
	}
	r.HTML = b.String()
	return r, nil
}

// funcs are available in every template.
var funcs = map[string]any{
	// money formats an amount in minor units: money 129900 "EUR" = "1299.00 EUR".
	"money": money,
	// default returns def when v is empty.
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	// opt reads an optional key: opt . "tracking_url" is "" when absent.
	"opt": func(data map[string]any, key string) any {
		if v, ok := data[key]; ok {
			return v
		}
		return ""
	},
	"upper": strings.ToUpper,
}

// money formats minor units with the currency's decimals (2 for EUR, 0 for
// JPY, 3 for KWD), exactly, without floating point.
func money(amount any, currency string) (string, error) {
	n, err := toInt(amount)
	if err != nil {
		return "", fmt.Errorf("money: %w", err)
	}
	dec := tasks.MinorUnits(currency)
	neg := n < 0
	abs := new(big.Int).Abs(big.NewInt(n)).String()
	if dec > 0 {
		for len(abs) <= dec {
			abs = "0" + abs
		}
		abs = abs[:len(abs)-dec] + "." + abs[len(abs)-dec:]
	}
	if neg {
		abs = "-" + abs
	}
	return abs + " " + currency, nil
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case json.Number:
		return x.Int64()
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1e15 {
			return 0, fmt.Errorf("%v is not a whole number of minor units", x)
		}
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("%T is not an amount in minor units", v)
}
