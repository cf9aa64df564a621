package handlers

import (
	"testing"

	"github.com/shopq/shopq/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
