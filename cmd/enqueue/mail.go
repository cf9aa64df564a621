package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/shopq/shopq/tasks"
)

func init() {
	subcommands["mail"] = subcommand{
		usage: "mail --template NAME --to 'Name <addr>' --effect-key KEY [--data JSON | --data @file.json]\n" +
			"  templates: " + strings.Join(tasks.MailTemplates, ", "),
		build: func(args []string) (built, error) { return one(mailCommand(args)) },
	}
}

// mailCommand builds a mail:send task from flags. --data is a JSON object
// passed to the template, inline or from a file with @path; numbers keep
// their exact value (amounts are minor units).
func mailCommand(args []string) (*asynq.Task, error) {
	fs := flag.NewFlagSet("mail", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	template := fs.String("template", "", "template name: "+strings.Join(tasks.MailTemplates, ", "))
	to := fs.String("to", "", `recipient, optionally with a display name: "Zoë Müller <zoe@example.test>"`)
	key := fs.String("effect-key", "", "one mail per key, e.g. order-confirmation:ORDER_ID")
	data := fs.String("data", "", "template data: a JSON object, or @file.json")
	if err := fs.Parse(args); err != nil {
		return nil, usagef("mail: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("mail: unexpected arguments %v", fs.Args())
	}

	d, err := mailData(*data)
	if err != nil {
		return nil, usagef("mail: --data: %v", err)
	}
	t, err := tasks.NewMailSendTask(tasks.MailSendPayload{Template: *template, To: *to, Data: d, EffectKey: *key})
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

// mailData decodes --data: "" is no data, "@path" reads a file.
func mailData(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	raw := []byte(s)
	if path, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	return d, nil
}
