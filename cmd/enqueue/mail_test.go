package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func TestMailCommand(t *testing.T) {
	t.Parallel()
	tk, err := mailCommand([]string{
		"--template", "order-confirmation", "--to", "Zoë Müller <zoe@example.test>",
		"--effect-key", "order-confirmation:ORD-1", "--data", `{"order_id": "ORD-1", "total": 129900}`,
	})
	require.NoError(t, err)
	require.Equal(t, tasks.TypeMailSend, tk.Type())
	p, err := tasks.Decode[tasks.MailSendPayload](tk.Payload())
	require.NoError(t, err)
	require.Equal(t, "Zoë Müller <zoe@example.test>", p.To)
	require.Equal(t, "order-confirmation:ORD-1", p.EffectKey)
	require.Equal(t, json.Number("129900"), p.Data["total"])

	file := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"sku": "MUG"}`), 0o600))
	tk, err = mailCommand([]string{"--template", "back-in-stock", "--to", "a@example.test",
		"--effect-key", "back-in-stock:MUG:a", "--data", "@" + file})
	require.NoError(t, err)
	p, err = tasks.Decode[tasks.MailSendPayload](tk.Payload())
	require.NoError(t, err)
	require.Equal(t, "MUG", p.Data["sku"])

	var ue usageError
	for _, args := range [][]string{
		{"--template", "nope", "--to", "a@example.test", "--effect-key", "k"},
		{"--template", "order-failed", "--to", "not an address", "--effect-key", "k"},
		{"--template", "order-failed", "--to", "a@example.test"},
		{"--template", "order-failed", "--to", "a@example.test", "--effect-key", "k", "--data", "[1]"},
		{"--template", "order-failed", "--to", "a@example.test", "--effect-key", "k", "extra"},
	} {
		_, err := mailCommand(args)
		require.ErrorAs(t, err, &ue, "%v", args)
	}
}
