package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's configuration table lists every key with its variable.
func TestREADMEListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(data)
	for key := range defaults() {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		require.Contains(t, readme, "| `"+key+"` | `"+env+"`", "README configuration table misses %s", key)
	}
}
