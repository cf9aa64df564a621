package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The demo on its embedded Redis accounts for every input: all variants of
// the exports, all 512 invoices by kind, one confirmation per accepted
// order. It exits 1 on any mismatch, so exit 0 is the assertion; the
// printed figures are checked too.
func TestDemoAccountsForEveryInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system for a while; skipped with -short")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{
		"--dir", dir,
		"--feeds", "../../testdata/shopify/apparel.csv,../../testdata/shopify/home-and-garden.csv",
		"--orders", "../../testdata/online-retail/online-retail-10k.csv",
	}, &out, &errOut)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	require.Contains(t, s, "invoices: 512")
	require.Contains(t, s, "every input accounted for")
	require.Contains(t, s, "apparel.csv            rows 22")
	require.Contains(t, s, "home-and-garden.csv    rows 21")

	emls, err := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	require.NoError(t, err)
	require.NotEmpty(t, emls)
	_, err = os.Stat(filepath.Join(dir, "worker.log"))
	require.NoError(t, err)
}
