package tasks

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInvalidUTF8IsRefused(t *testing.T) {
	_, err := NewTaskFromJSON(TypeInventorySet, []byte("{\"sku\":\"B\xff\",\"on_hand\":1,\"version\":1}"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "not valid UTF-8")
}

func TestOversizedPayloadStatesItsSize(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300<<10)
	payload := append([]byte(`{"sku":"A","on_hand":1,"version":1,"pad":"`), big...)
	payload = append(payload, `"}`...)
	_, err := NewTaskFromJSON(TypeInventorySet, payload)
	require.Error(t, err)
	require.Contains(t, err.Error(), fmt.Sprintf("payload is %d bytes", len(payload)))
}

func TestEveryFieldProblemAtOnce(t *testing.T) {
	_, err := NewInventoryReserveTask(InventoryReservePayload{SKU: "", Quantity: -1, OperationID: ""})
	require.Error(t, err)
	for _, f := range []string{"sku", "quantity", "operation_id"} {
		require.Contains(t, err.Error(), f)
	}
	_, err = NewPriceUpdateTask(PriceUpdatePayload{SKU: "A", Amount: 100, Currency: "EURO", Version: 1})
	require.ErrorContains(t, err, "EURO")
}
